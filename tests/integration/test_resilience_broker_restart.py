"""The broker crashing and restarting mid-run: the service recovers, nothing is lost."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consumer.local_kafka import LocalKafka
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


@pytest.fixture
def own_broker() -> Iterator[LocalKafka]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    broker = LocalKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(own_broker: LocalKafka) -> str:
    """Topics, groups and configs of this module use the test's own broker."""
    return own_broker.bootstrap_servers


def test_broker_killed_and_restarted_mid_run_loses_no_event(
    own_broker: LocalKafka,
    write_config: Callable[..., Path],
    sandbox_client: SandboxClient,
    tmp_path: Path,
) -> None:
    """Broker SIGKILLed, then stopped cleanly, each time restarted: all arrives."""
    path = write_config(batch_size=50)
    settings = fast_group(path)
    # Slow answers keep work in flight across both outages.
    sandbox_client.add_fault(delay_seconds=0.5)
    events = produce_generated(settings, 4000, seed=1)

    def delivered() -> int:
        return sum(map(len, received_ids(sandbox_client, settings).values()))

    with Fleet(tmp_path) as fleet:
        service = fleet.start(path)
        wait_for(lambda: delivered() >= 200, 60, "first deliveries")

        own_broker.kill()
        before = delivered()
        # Batches already read keep arriving while the broker is down.
        wait_for(lambda: delivered() > before, 30, "delivery during the outage")
        assert service.alive, service.log()[-3000:]
        own_broker.restart()
        events += produce_generated(settings, 2000, seed=2)

        before = delivered()
        wait_for(lambda: delivered() > before, 60, "delivery after the restart")
        own_broker.restart()  # a controlled stop this time, then start
        events += produce_generated(settings, 2000, seed=3)

        sandbox_client.clear_faults()
        expected = expected_ids(settings, events)
        wait_for(
            lambda: all_received(sandbox_client, settings, expected),
            120,
            "every event delivered",
            lambda: progress(settings),
        )
        wait_for(
            lambda: committed_to_end(settings),
            60,
            "commits reach the end",
            lambda: progress(settings),
        )
        service.send(signal.SIGTERM)
        assert service.wait() == 0, service.log()[-3000:]
        fleet.assert_logs_clean()

    duplicates = assert_delivered(sandbox_client, settings, expected)
    print(f"\nbroker restarts: {len(events)} events, duplicates {duplicates}")
