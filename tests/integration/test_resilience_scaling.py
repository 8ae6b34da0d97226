"""Scaling: instances join and leave the group mid-run and nothing is lost."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from consumer import config
from consumer.logs import KAFKA_LOGGER
from consumer.sandbox import SandboxClient

from .resilience_support import (
    Fleet,
    all_received,
    assert_delivered,
    committed_to_end,
    expected_ids,
    fast_group,
    produce_generated,
    progress,
    received_ids,
    wait_for,
)

PARTITIONS = 6
# One admin client per broker for the whole module: each new one logs on closing.
_admins: dict[str, AdminClient] = {}
WAVE = 6000


@pytest.fixture
def topic(make_topic: Callable[..., str]) -> str:
    """Six partitions, so three instances get two each (used by write_config)."""
    return make_topic(PARTITIONS)


def _assignment(settings: config.Config) -> list[int] | None:
    """Partitions held by each member of a stable group, sorted; None mid-rebalance."""
    group_id = settings.kafka.group_id
    admin = _admins.get(settings.kafka.bootstrap_servers)
    if admin is None:
        admin = AdminClient(
            {
                "bootstrap.servers": settings.kafka.bootstrap_servers,
                "logger": KAFKA_LOGGER,
            }
        )
        _admins[settings.kafka.bootstrap_servers] = admin
    future = admin.describe_consumer_groups([group_id], request_timeout=10)[group_id]
    group = future.result(timeout=10)
    if group.state != ConsumerGroupState.STABLE:
        return None
    return sorted(len(m.assignment.topic_partitions) for m in group.members)


def _delivered(client: SandboxClient, settings: config.Config, seed: int) -> int:
    """How many distinct events of wave ``seed`` the main destination has received."""
    prefix = f"gen-{seed}-"
    main = received_ids(client, settings)["main"]
    return sum(1 for event_id in main if event_id.startswith(prefix))


def test_instances_joining_and_leaving_mid_run_lose_no_event(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """One instance, then three, then one again (SIGTERM): every event arrives."""
    # Slow answers keep batches in flight through each rebalance. Every wave
    # fits under max_buffered_events, so fetching is never paused (see the
    # next test for what a pause before a rebalance does).
    path = write_config(batch_size=50)
    settings = fast_group(path)
    sandbox_client.add_fault(delay_seconds=0.2)
    events = produce_generated(settings, WAVE, seed=1)

    with Fleet(tmp_path) as fleet:
        first = fleet.start(path)
        wait_for(lambda: _delivered(sandbox_client, settings, 1) >= 500, 60, "start")

        joiners = [fleet.start(path), fleet.start(path)]
        wait_for(lambda: _assignment(settings) == [2, 2, 2], 60, "three members")
        events += produce_generated(settings, WAVE, seed=2)
        wait_for(
            lambda: _delivered(sandbox_client, settings, 2) >= 500,
            60,
            "the second wave delivered by three members",
        )

        for joiner in joiners:
            joiner.send(signal.SIGTERM)
        for joiner in joiners:
            assert joiner.wait() == 0, joiner.log()[-3000:]
            assert "batch delivered" in joiner.log(), "a joiner did no work"
        wait_for(lambda: _assignment(settings) == [PARTITIONS], 60, "one member left")
        # The one left reads on from where the leavers committed.
        events += produce_generated(settings, WAVE // 2, seed=3)

        expected = expected_ids(settings, events)
        wait_for(
            lambda: all_received(sandbox_client, settings, expected),
            120,
            "every event delivered",
            lambda: progress(settings),
        )
        wait_for(lambda: committed_to_end(settings), 30, "commits reach the end")
        first.send(signal.SIGTERM)
        assert first.wait() == 0, first.log()[-3000:]
        fleet.assert_logs_clean()

    duplicates = assert_delivered(sandbox_client, settings, expected)
    assert committed_to_end(settings)
    assert "paused fetching" not in first.log()
    print(f"\nscaling: {len(events)} events, duplicates {duplicates}")


def test_partition_revoked_while_paused_is_read_again_when_assigned_back(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """A partition taken away during back-pressure is read again once it returns."""
    path = write_config(batch_size=100, max_buffered_events=1000)
    # A revoke waits at most a fifth of max.poll.interval.ms for in-flight batches.
    settings = fast_group(path, max_poll_interval_ms=10_000)
    # Nothing is accepted, so the first instance fills its buffer and pauses.
    sandbox_client.add_fault(status=503)
    events = produce_generated(settings, 3000, seed=1)

    with Fleet(tmp_path) as fleet:
        first = fleet.start(path)
        first.wait_for_log("paused fetching")
        second = fleet.start(path)
        wait_for(lambda: _assignment(settings) == [3, 3], 60, "two members")
        # The first instance was paused when it gave partitions away.
        assert "partitions revoked" in first.log()
        assert "resumed fetching" not in first.log()

        sandbox_client.clear_faults()
        expected = expected_ids(settings, events)
        wait_for(
            lambda: all_received(sandbox_client, settings, expected),
            60,
            "the first wave delivered by two members",
        )
        second.send(signal.SIGTERM)
        assert second.wait() == 0, second.log()[-3000:]
        wait_for(lambda: _assignment(settings) == [PARTITIONS], 60, "one member left")

        # Too few to fill the buffer again: no new pause and resume follows,
        # which would also resume the partitions that came back.
        events += produce_generated(settings, 300, seed=2)
        expected = expected_ids(settings, events)
        try:
            wait_for(
                lambda: all_received(sandbox_client, settings, expected),
                30,
                "the second wave delivered by the one member left",
                lambda: progress(settings),
            )
            wait_for(lambda: committed_to_end(settings), 30, "commits reach the end")
        finally:
            fleet.assert_logs_clean()
        first.send(signal.SIGTERM)
        assert first.wait() == 0, first.log()[-3000:]

    assert_delivered(sandbox_client, settings, expected)
