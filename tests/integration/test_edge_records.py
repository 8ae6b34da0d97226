"""Records at the edges: oversized dead letters, failing dead-letter writes,
and topics written in transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from consumer import codec, config, envelope
from consumer.generate import generate
from consumer.kafka_admin import ensure_topic
from consumer.service import Service

from .conftest import MAIN
from .pipeline_support import all_committed, dead_letters_of, write_events


def _produce_raw(settings: config.Config, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(settings.kafka.topic, key=b"k", value=value)
    producer.flush(10)


def _set_max_message_bytes(settings: config.Config, size: int) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    change = ConfigResource(
        "topic",
        settings.kafka.dead_letter_topic,
        incremental_configs=[
            ConfigEntry(
                "max.message.bytes",
                str(size),
                incremental_operation=AlterConfigOpType.SET,
            )
        ],
    )
    for future in admin.incremental_alter_configs([change]).values():
        future.result()


def test_a_value_too_large_for_the_dead_letter_topic_is_left_out_not_lost(
    write_config: Callable[..., Path],
) -> None:
    """An oversized undecodable record becomes a dead letter without its value."""
    settings = config.load(write_config([MAIN]))
    kafka = settings.kafka
    ensure_topic(kafka.bootstrap_servers, kafka.dead_letter_topic, 3)
    _set_max_message_bytes(settings, 2000)
    _produce_raw(settings, b"\xff" + b"x" * 5000)
    write_events(settings, list(generate(10, seed=1)))

    stats = Service(settings, exit_when_idle=True).run()

    assert stats.undecodable == 1 and stats.dead_letters == 1
    [letter] = dead_letters_of(settings)
    assert letter.value() is None
    headers = dict(letter.headers() or [])
    assert headers["dead_letter.value_omitted"].startswith(b"5001 bytes")
    assert headers["dead_letter.stage"] == b"decode"
    assert all_committed(settings)


def test_a_failing_dead_letter_write_is_retried_until_it_is_stored(
    write_config: Callable[..., Path],
) -> None:
    """While dead letters cannot be written commits wait; once they can, all end."""
    settings = config.load(write_config([MAIN]))
    kafka = settings.kafka
    ensure_topic(kafka.bootstrap_servers, kafka.dead_letter_topic, 3)
    _set_max_message_bytes(settings, 100)  # not even the headers fit
    _produce_raw(settings, b"\xff garbage")
    write_events(settings, list(generate(10, seed=2)))
    service = Service(settings, exit_when_idle=True)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        time.sleep(4)
        assert runner.is_alive() and service.stats.dead_letters == 0
        assert not all_committed(settings)
        _set_max_message_bytes(settings, 1_048_588)
        runner.join(60)
    finally:
        service.request_stop()
        runner.join(30)
    assert service.stats.dead_letters == 1
    assert all_committed(settings)


def test_a_topic_written_in_transactions_is_recognised_as_read_to_the_end(
    write_config: Callable[..., Path],
) -> None:
    """Transaction markers take offsets but hold no record; idle runs still end."""
    settings = config.load(write_config([MAIN]))
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "transactional.id": f"tx-{settings.kafka.topic}",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for raw in generate(10, seed=3):
        value = codec.encode(envelope.from_envelope(raw))
        producer.produce(settings.kafka.topic, key=b"person", value=value)
    producer.commit_transaction(30)

    service = Service(settings, exit_when_idle=True)
    runner = threading.Thread(target=service.run)
    runner.start()
    runner.join(60)
    if runner.is_alive():
        service.request_stop()
        runner.join(30)
        raise AssertionError("the idle run never ended")
    assert service.stats.records == 10
    assert all_committed(settings)
