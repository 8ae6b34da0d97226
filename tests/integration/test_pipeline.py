"""The whole path against a real broker and the sandbox: delivery, commits, refusals."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from consumer import codec, config, envelope
from consumer.generate import generate
from consumer.kafka_admin import committed_offsets, end_offsets
from consumer.mapping import map_event
from consumer.produce import produce
from consumer.sandbox import SandboxClient
from consumer.service import Service

EVENTS = 240


def _expected(settings: config.Config, events: list[dict[str, Any]]) -> dict[str, Any]:
    """What each destination must receive: the mapper's own output, by event id."""
    expected: dict[str, dict[str, Any]] = {d.name: {} for d in settings.destinations}
    for raw in events:
        event = codec.decode(codec.encode(envelope.from_envelope(raw)))
        for destination in settings.destinations:
            outcome = map_event(event, destination, time.time())
            if outcome.kind == "send":
                expected[destination.name][outcome.event_id] = outcome.event
    return expected


def _received(client: SandboxClient, settings: config.Config) -> dict[str, Any]:
    return {
        d.name: {e["event_id"]: e for e in client.events(d.ad_account_id)}
        for d in settings.destinations
    }


def _produce_generated(settings: config.Config, count: int) -> list[dict[str, Any]]:
    events = list(generate(count, seed=11))
    assert settings.path is not None
    lines = settings.path.with_name("events.jsonl")
    lines.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    report = produce(settings, [str(lines)])
    assert report.produced == count and not report.failed and not report.invalid
    return events


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_every_event_reaches_its_destinations_exactly_as_mapped(
    load_config: Callable[..., config.Config], sandbox_client: SandboxClient
) -> None:
    """Each destination receives exactly the mapper's events, each once."""
    settings = load_config()
    events = _produce_generated(settings, EVENTS)

    stats = Service(settings, exit_when_idle=True).run()

    expected = _expected(settings, events)
    received = _received(sandbox_client, settings)
    assert stats.records == EVENTS
    for name in expected:
        assert received[name] == expected[name]
        assert stats.destinations[name].sent == len(expected[name])
    counts = sandbox_client.counts()
    total = sum(account["accepted_events"] for account in counts.values())
    assert total == sum(len(v) for v in expected.values())


def test_committed_offsets_reach_the_end_and_a_second_run_sends_nothing(
    load_config: Callable[..., config.Config], sandbox_client: SandboxClient
) -> None:
    """After a run the group is committed to the end; running again sends nothing."""
    settings = load_config()
    _produce_generated(settings, EVENTS)
    Service(settings, exit_when_idle=True).run()
    before = _received(sandbox_client, settings)

    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    assert {p: committed[p] for p in ends if ends[p]} == {
        p: end for p, end in ends.items() if end
    }

    again = Service(settings, exit_when_idle=True).run()
    assert again.records == 0
    assert _received(sandbox_client, settings) == before


def _first_offsets_sent_to(settings: config.Config, name: str) -> dict[int, int]:
    """Per partition, the offset of the first record that destination ``name`` gets."""
    destination = next(d for d in settings.destinations if d.name == name)
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    reader = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": "test-reader"}
    )
    reader.assign([TopicPartition(kafka.topic, p, 0) for p in ends])
    first: dict[int, int] = {}
    seen = 0
    while seen < sum(ends.values()):
        message = reader.poll(5)
        assert message is not None and message.error() is None
        seen += 1
        outcome = map_event(codec.decode(message.value()), destination, time.time())
        if outcome.kind == "send":
            first.setdefault(message.partition(), message.offset())
    reader.close()
    return first


def test_refused_destination_holds_commits_until_it_accepts_again(
    load_config: Callable[..., config.Config], sandbox_client: SandboxClient
) -> None:
    """While one destination is refused, no commit passes its first pending record."""
    settings = load_config()
    events = _produce_generated(settings, EVENTS)
    main = next(d for d in settings.destinations if d.name == "main")
    sandbox_client.add_fault(ad_account_id=main.ad_account_id, status=503)
    expected = _expected(settings, events)

    service = Service(settings, exit_when_idle=True)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        _wait_for(
            lambda: (
                len(_received(sandbox_client, settings)["variants"])
                == len(expected["variants"])
            ),
            60,
            "the healthy destination to receive everything",
        )
        time.sleep(1.0)  # several commit intervals pass while main is refused
        kafka = settings.kafka
        committed = committed_offsets(
            kafka.bootstrap_servers, kafka.group_id, kafka.topic
        )
        for partition, first in _first_offsets_sent_to(settings, "main").items():
            assert (committed.get(partition) or 0) <= first
        assert _received(sandbox_client, settings)["main"] == {}
    finally:
        sandbox_client.clear_faults()
        runner.join(120)
    assert not runner.is_alive()

    assert _received(sandbox_client, settings) == expected
    ends = end_offsets(settings.kafka.bootstrap_servers, settings.kafka.topic)
    committed = committed_offsets(
        settings.kafka.bootstrap_servers, settings.kafka.group_id, settings.kafka.topic
    )
    assert all(committed[p] == end for p, end in ends.items() if end)
    assert Counter(service.stats.destinations["main"].reasons) == Counter()


def test_kip848_consumer_protocol_delivers_everything_too(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """With group.protocol = consumer (KIP-848) the same run delivers and commits."""
    path = write_config()
    path.write_text(
        path.read_text("utf-8") + '\n[kafka.consumer]\n"group.protocol" = "consumer"\n',
        "utf-8",
    )
    settings = config.load(path)
    events = _produce_generated(settings, EVENTS)

    Service(settings, exit_when_idle=True).run()

    assert _received(sandbox_client, settings) == _expected(settings, events)
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    assert all(committed[p] == end for p, end in ends.items() if end)


def test_stopping_during_an_outage_leaves_records_for_the_next_run(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """A stop while a destination retries abandons its batches: no dead letters,
    nothing committed past them, and the next run delivers them."""
    path = write_config()
    path.write_text(
        path.read_text("utf-8").replace("[delivery]", "[delivery]\nretry_for = 5"),
        "utf-8",
    )
    settings = config.load(path)
    events = _produce_generated(settings, 60)
    main = next(d for d in settings.destinations if d.name == "main")
    sandbox_client.add_fault(ad_account_id=main.ad_account_id, status=503)
    service = Service(settings)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        _wait_for(
            lambda: (
                service.health.get("main") is not None
                and service.health["main"].state == "retrying"
            ),
            60,
            "main to be retrying",
        )
        started = time.monotonic()
        service.request_stop()
        runner.join(30)
        assert not runner.is_alive()
        assert time.monotonic() - started < 5  # no waiting out retry_for
    finally:
        service.request_stop()
        runner.join(30)
    assert service.stats.dead_letters == 0
    for partition, first in _first_offsets_sent_to(settings, "main").items():
        committed = committed_offsets(
            settings.kafka.bootstrap_servers,
            settings.kafka.group_id,
            settings.kafka.topic,
        )
        assert (committed.get(partition) or 0) <= first

    sandbox_client.clear_faults()
    Service(settings, exit_when_idle=True).run()
    received = _received(sandbox_client, settings)
    expected = _expected(settings, events)
    assert set(received["main"]) == set(expected["main"])


def test_one_refused_destination_pauses_fetching_at_its_own_limit(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """A destination that is down fills only its own budget, then fetching pauses;
    once it accepts again everything is delivered."""
    path = write_config(max_buffered_events=100_000, max_buffered_per_destination=1000)
    path.write_text(
        path.read_text("utf-8").replace(
            "[delivery]", '[delivery]\nretry_for = "forever"'
        ),
        "utf-8",
    )
    settings = config.load(path)
    events = _produce_generated(settings, 5000)
    main = next(d for d in settings.destinations if d.name == "main")
    sandbox_client.add_fault(ad_account_id=main.ad_account_id, status=503)
    service = Service(settings, exit_when_idle=True)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        _wait_for(lambda: service.paused, 60, "fetching to pause")
        time.sleep(1.0)
        assert service.stats.records < len(events)
        assert service.snapshot()["buffered_events"] < 3000  # far below 100 000
    finally:
        sandbox_client.clear_faults()
        runner.join(120)
    assert not runner.is_alive()
    assert _received(sandbox_client, settings) == _expected(settings, events)
