"""The local broker and the Kafka admin helpers, exercised against a real broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer

from consumer.kafka_admin import (
    KafkaAdminError,
    committed_offsets,
    end_offsets,
    ensure_topic,
    group_is_active,
)
from consumer.local_kafka import LocalKafka

pytestmark = pytest.mark.integration

# Joining a group and fetching the first batch takes a second or two on a warm
# broker; the rest is headroom for a busy two-core CI machine.
CONSUME_TIMEOUT_S = 30.0


def _produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    """Write (partition, value) pairs and wait until the broker acknowledged all."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition, value in records:
        producer.produce(topic, value, partition=partition)
    assert producer.flush(CONSUME_TIMEOUT_S) == 0


def _consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    return Consumer({**config, **extra})


def _poll_until(consumer: Consumer, count: int) -> list[Message]:
    """Poll until ``count`` records arrived or the timeout passed."""
    records: list[Message] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            records.append(message)
    return records


def test_consumed_record_commit_is_visible_through_committed_offsets(
    kafka_bootstrap: str, make_topic: Callable[..., str], unique_group: str
) -> None:
    """A record consumed and committed by a group shows up in committed_offsets."""
    topic = make_topic(partitions=2)
    _produce(kafka_bootstrap, topic, [(1, b"hello")])
    assert committed_offsets(kafka_bootstrap, unique_group, topic) == {0: None, 1: None}
    consumer = _consumer(kafka_bootstrap, unique_group)
    try:
        consumer.subscribe([topic])
        [message] = _poll_until(consumer, 1)
        assert (message.partition(), message.value()) == (1, b"hello")
        consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    assert committed_offsets(kafka_bootstrap, unique_group, topic) == {0: None, 1: 1}


def test_ensure_topic_creates_requested_partitions_once(
    kafka_bootstrap: str, unique_group: str
) -> None:
    """ensure_topic creates the partitions asked for, then reports it already exists."""
    topic = f"{unique_group}-ensure"
    assert ensure_topic(kafka_bootstrap, topic, partitions=5) is True
    assert ensure_topic(kafka_bootstrap, topic, partitions=5) is False
    assert ensure_topic(kafka_bootstrap, topic, partitions=2) is False
    assert end_offsets(kafka_bootstrap, topic) == dict.fromkeys(range(5), 0)


def test_end_offsets_count_produced_records_per_partition(
    kafka_bootstrap: str, topic: str
) -> None:
    """end_offsets reports each partition's high watermark after producing."""
    _produce(kafka_bootstrap, topic, [(0, b"a"), (0, b"b"), (2, b"c")])
    assert end_offsets(kafka_bootstrap, topic) == {0: 2, 1: 0, 2: 1}


def test_end_offsets_names_a_missing_topic(kafka_bootstrap: str) -> None:
    """Asking about a topic that does not exist fails with its name in the message."""
    with pytest.raises(KafkaAdminError, match="no-such-topic-xyz"):
        end_offsets(kafka_bootstrap, "no-such-topic-xyz", timeout=5)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_group_is_active_only_while_a_consumer_is_subscribed(
    kafka_bootstrap: str, topic: str, unique_group: str, protocol: str
) -> None:
    """A group has members while its consumer polls, and none once it closed."""
    assert group_is_active(kafka_bootstrap, unique_group) is False
    _produce(kafka_bootstrap, topic, [(0, b"x")])
    consumer = _consumer(kafka_bootstrap, unique_group, **{"group.protocol": protocol})
    try:
        consumer.subscribe([topic])
        assert len(_poll_until(consumer, 1)) == 1
        assert group_is_active(kafka_bootstrap, unique_group) is True
    finally:
        consumer.close()
    assert group_is_active(kafka_bootstrap, unique_group) is False


def test_kill_and_restart_keep_records_produced_before_the_crash() -> None:
    """Records acknowledged before a SIGKILL are still readable after restart()."""
    with LocalKafka() as broker:
        bootstrap = broker.bootstrap_servers
        ensure_topic(bootstrap, "survives-crash", partitions=1)
        _produce(bootstrap, "survives-crash", [(0, b"r%d" % i) for i in range(5)])
        broker.kill()
        assert not broker.running
        broker.restart()
        assert end_offsets(bootstrap, "survives-crash") == {0: 5}
        consumer = _consumer(bootstrap, "after-restart")
        try:
            consumer.subscribe(["survives-crash"])
            values = [m.value() for m in _poll_until(consumer, 5)]
        finally:
            consumer.close()
        assert values == [b"r%d" % i for i in range(5)]
