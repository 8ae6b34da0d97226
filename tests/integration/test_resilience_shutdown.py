"""Shutdown: SIGTERM finishes and commits only what settled; a second one is at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from consumer import codec, config
from consumer.mapping import map_event
from consumer.sandbox import SandboxClient

from .resilience_support import (
    Fleet,
    assert_delivered,
    committed_to_end,
    expected_ids,
    fast_group,
    offsets,
    produce_generated,
    received_ids,
    wait_for,
)

EVENTS = 3000
# A second signal must end the process well within this.
AT_ONCE_S = 5.0


def _undelivered_below(
    settings: config.Config, client: SandboxClient, committed: dict[int, int | None]
) -> list[str]:
    """Records below the committed offsets whose events some destination lacks."""
    kafka = settings.kafka
    received = {name: set(ids) for name, ids in received_ids(client, settings).items()}
    reader = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": "test-reader"}
    )
    wanted = {p: offset for p, offset in committed.items() if offset}
    reader.assign([TopicPartition(kafka.topic, p, 0) for p in wanted])
    problems = []
    left = sum(wanted.values())
    now = time.time()
    deadline = time.monotonic() + 60
    try:
        while left and time.monotonic() < deadline:
            message = reader.poll(1)
            if message is None or message.error() is not None:
                continue
            partition, offset = message.partition(), message.offset()
            if offset >= wanted[partition]:
                continue
            left -= 1
            event = codec.decode(message.value())
            for destination in settings.destinations:
                outcome = map_event(event, destination, now)
                if outcome.kind == "send" and (
                    outcome.event_id not in received[destination.name]
                ):
                    problems.append(f"{partition}:{offset} {destination.name}")
    finally:
        reader.close()
    assert not left, f"{left} committed records could not be read back"
    return problems


def test_sigterm_with_batches_in_flight_exits_zero_and_commits_only_settled(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """SIGTERM mid-delivery exits 0, commits only delivered records; a rerun ends it."""
    # Slow answers keep batches in flight; a small buffer leaves records unread.
    path = write_config(batch_size=100, max_buffered_events=1000)
    settings = fast_group(path)
    sandbox_client.add_fault(delay_seconds=1.0)
    events = produce_generated(settings, EVENTS, seed=1)
    expected = expected_ids(settings, events)

    with Fleet(tmp_path) as fleet:
        service = fleet.start(path)
        wait_for(
            lambda: sum(map(len, received_ids(sandbox_client, settings).values())) > 0,
            60,
            "first deliveries",
        )
        service.send(signal.SIGTERM)
        assert service.wait() == 0, service.log()[-3000:]
        assert "finishing in-flight batches" in service.log()

        committed, ends = offsets(settings)
        assert sum(c or 0 for c in committed.values()) > 0, "nothing committed"
        assert not committed_to_end(settings), "everything was delivered already"
        assert _undelivered_below(settings, sandbox_client, committed) == []

        sandbox_client.clear_faults()
        rerun = fleet.start(path, "--exit-when-idle")
        assert rerun.wait(120) == 0, rerun.log()[-3000:]
        fleet.assert_logs_clean()

    duplicates = assert_delivered(sandbox_client, settings, expected)
    assert committed_to_end(settings)
    print(
        f"\nsigterm: committed at stop {committed} of {ends}, duplicates {duplicates}"
    )


def test_second_sigterm_during_shutdown_exits_at_once_and_loses_nothing(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """A second SIGTERM while finishing exits at once, non-zero; nothing is lost."""
    path = write_config(batch_size=100)
    settings = fast_group(path)
    # Every answer takes 20 s, so shutdown waits on batches in flight. The count
    # (never reached) makes arrivals visible: each request spends one.
    arrivals = 100_000
    sandbox_client.add_fault(delay_seconds=20, count=arrivals)
    events = produce_generated(settings, 1000, seed=1)
    expected = expected_ids(settings, events)

    with Fleet(tmp_path) as fleet:
        service = fleet.start(path)
        wait_for(
            lambda: sandbox_client.faults()[0]["count"] < arrivals,
            60,
            "a batch in flight",
        )
        service.send(signal.SIGTERM)
        service.wait_for_log("finishing in-flight batches", 30)
        assert service.alive
        second = time.monotonic()
        service.send(signal.SIGTERM)
        status = service.wait(60)
        took = time.monotonic() - second
        print(f"\nsecond SIGTERM: exit status {status} after {took:.1f}s")
        assert status != 0
        assert took < AT_ONCE_S, f"took {took:.1f}s to exit after the second SIGTERM"

        sandbox_client.clear_faults()
        rerun = fleet.start(path, "--exit-when-idle")
        assert rerun.wait(120) == 0, rerun.log()[-3000:]
        fleet.assert_logs_clean()

    assert_delivered(sandbox_client, settings, expected)
    assert committed_to_end(settings)
