"""Dead letters against the real broker: bad bytes, failed events, refused tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from consumer import config
from consumer.dead_letters import read_headers
from consumer.generate import generate
from consumer.kafka_admin import end_offsets
from consumer.redrive import redrive
from consumer.sandbox import SandboxClient
from consumer.service import Service

from .conftest import MAIN, cli
from .pipeline_support import all_committed, dead_letters_of, write_events


def test_undecodable_values_become_dead_letters_and_the_rest_is_delivered(
    load_config: Callable[..., config.Config], sandbox_client: SandboxClient
) -> None:
    """Garbage, truncated Avro and Confluent-framed values are dead-lettered."""
    settings = load_config()
    write_events(settings, list(generate(30, seed=3)))
    good = _first_value(settings)
    bad_values = {
        b"garbage": b"\xff\xfe not avro at all",
        b"truncated": good[: len(good) // 2],
        b"framed": b"\x00\x00\x00\x00\x07" + good,
    }
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for key, value in bad_values.items():
        producer.produce(settings.kafka.topic, key=key, value=value)
    producer.flush(10)
    write_events(settings, list(generate(30, seed=4)))

    stats = Service(settings, exit_when_idle=True).run()

    assert stats.undecodable == 3
    letters = {m.key(): m for m in dead_letters_of(settings)}
    assert set(letters) == set(bad_values)
    for key, value in bad_values.items():
        headers = read_headers(letters[key])
        assert letters[key].value() == value
        assert headers["stage"] == "decode"
        assert headers["topic"] == settings.kafka.topic
        assert {"reason", "partition", "offset", "timestamp", "attempts"} <= set(
            headers
        )
    assert "Confluent wire format" in read_headers(letters[b"framed"])["reason"]
    assert stats.destinations["main"].sent > 0
    assert all_committed(settings)


def _first_value(settings: config.Config) -> bytes:
    """The value bytes of the first record in the topic (a valid event)."""
    kafka = settings.kafka
    reader = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": "x"})
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    partition = next(p for p, end in ends.items() if end)
    reader.assign([TopicPartition(kafka.topic, partition, 0)])
    message = reader.poll(10)
    reader.close()
    assert message is not None and message.value()
    return bytes(message.value())


def test_one_failed_event_in_a_thousand_is_the_only_dead_letter(
    load_config: Callable[..., config.Config], sandbox_client: SandboxClient
) -> None:
    """999 events are accepted and the one Pinterest fails is dead-lettered."""
    settings = load_config([MAIN], linger_ms=3000)
    events = _products(1000)
    unlucky = events[500]["event_id"]
    sandbox_client.add_fault(
        ad_account_id=MAIN["ad_account_id"], fail_event_ids=[unlucky]
    )
    write_events(settings, events)

    stats = Service(settings, exit_when_idle=True).run()

    received = sandbox_client.events(MAIN["ad_account_id"])
    assert len(received) == 999
    assert unlucky not in {e["event_id"] for e in received}
    [letter] = dead_letters_of(settings)
    headers = read_headers(letter)
    assert headers["event_id"] == unlucky
    assert headers["destination"] == "main"
    assert headers["stage"] == "deliver"
    assert headers["pinterest_message"] == "sandbox: event failed on request"
    assert stats.destinations["main"].sent == 999
    assert stats.destinations["main"].dead_lettered == 1
    assert all_committed(settings)

    listed = cli("dead-letters", "--config", str(settings.path))
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["event_id"] == unlucky
    assert row["pinterest_message"] == "sandbox: event failed on request"
    assert "example.com" not in listed.stdout  # headers only, never the event


def _products(count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_name": "Viewed Product",
            "event_id": f"vp-{n}",
            "source_id": "web-shop",
            "properties": {
                "product_id": f"P-{n}",
                "name": "Thing",
                "price": 10,
                "currency": "USD",
                "$ip": "203.0.113.7",
            },
            "profile_properties": {"$user_agent": "Mozilla/5.0"},
            "aliases": [f"urn:cookie:c-{n % 50}"],
        }
        for n in range(count)
    ]


def test_refused_token_past_its_retry_time_is_dead_lettered_then_redriven(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """Refused past retry_for: dead letters; after the token is fixed, redrive."""
    settings = config.load(write_config(retry_for=2))
    write_events(settings, _products(40))
    sandbox_client.add_fault(refuse_token=MAIN["access_token"])

    stats = Service(settings, exit_when_idle=True).run()

    assert stats.destinations["main"].dead_lettered == 40
    assert sandbox_client.events(MAIN["ad_account_id"]) == []
    letters = dead_letters_of(settings)
    assert {read_headers(m)["destination"] for m in letters} == {"main"}
    assert all(int(read_headers(m)["attempts"]) >= 2 for m in letters)
    assert all_committed(settings)

    sandbox_client.clear_faults()
    again = redrive(settings, "main")

    assert again.destinations["main"].sent == 40
    received = sandbox_client.events(MAIN["ad_account_id"])
    assert sorted(e["event_id"] for e in received) == sorted(
        f"vp-{n}" for n in range(40)
    )
    # A second redrive finds nothing new to send.
    assert redrive(settings, "main").destinations["main"].sent == 0


def test_redrive_filtered_by_reason_leaves_the_other_dead_letters_for_later(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """--reason sends only matching dead letters; the rest are still redriven later."""
    settings = config.load(write_config([MAIN], retry_for=2))
    events = _products(30)
    write_events(settings, events[:10])
    sandbox_client.add_fault(fail_event_ids=[e["event_id"] for e in events[:10]])
    Service(settings, exit_when_idle=True).run()
    sandbox_client.clear_faults()
    write_events(settings, events[10:])
    sandbox_client.add_fault(refuse_token=MAIN["access_token"])
    Service(settings, exit_when_idle=True).run()
    sandbox_client.clear_faults()
    assert len(dead_letters_of(settings)) == 30

    filtered = redrive(settings, "main", reason="sandbox: event failed")

    assert filtered.destinations["main"].sent == 10
    assert filtered.passed_over == 20
    first = {e["event_id"] for e in sandbox_client.events(MAIN["ad_account_id"])}
    assert first == {e["event_id"] for e in events[:10]}

    everything = redrive(settings, "main")

    assert everything.destinations["main"].sent == 30  # the 10 again: same ids
    ids = [e["event_id"] for e in sandbox_client.events(MAIN["ad_account_id"])]
    assert set(ids) == {e["event_id"] for e in events}


def test_events_failing_again_during_redrive_are_redriven_next_time(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """A redrive that fails again writes new dead letters that the next one sends."""
    settings = config.load(write_config([MAIN], retry_for=2))
    write_events(settings, _products(20))
    sandbox_client.add_fault(refuse_token=MAIN["access_token"])
    Service(settings, exit_when_idle=True).run()

    failing_again = redrive(settings, "main")

    assert failing_again.destinations["main"].dead_lettered == 20
    assert sandbox_client.events(MAIN["ad_account_id"]) == []
    sandbox_client.clear_faults()

    delivered = redrive(settings, "main")

    assert delivered.destinations["main"].sent == 20
    received = {e["event_id"] for e in sandbox_client.events(MAIN["ad_account_id"])}
    assert received == {f"vp-{n}" for n in range(20)}
