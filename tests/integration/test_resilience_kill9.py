"""Crashes: the service SIGKILLed at random moments still loses nothing."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from consumer.sandbox import SandboxClient

from .resilience_support import (
    Fleet,
    assert_delivered,
    expected_ids,
    fast_group,
    offsets,
    produce_generated,
    received_ids,
)

EVENTS = 20_000
# Fixed seeds: the same events, the same number of kills and the same moments.
EVENT_SEED = 7
KILL_SEED = 20_240


def test_sigkill_at_random_moments_loses_no_event(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """Killed with SIGKILL and restarted again and again, every event still arrives."""
    # Small batches and slowish answers keep work in flight at every kill.
    settings = fast_group(write_config(batch_size=100, linger_ms=50))
    sandbox_client.add_fault(delay_seconds=0.3)
    assert settings.path is not None
    events = produce_generated(settings, EVENTS, EVENT_SEED)
    expected = expected_ids(settings, events)
    rng = random.Random(KILL_SEED)
    kills = rng.randint(4, 6)
    progress = []

    started = time.monotonic()
    with Fleet(tmp_path) as fleet:
        for _ in range(kills):
            service = fleet.start(settings.path)
            service.wait_for_log("partitions assigned")
            time.sleep(rng.uniform(1, 4))
            service.kill()
            received = received_ids(sandbox_client, settings)
            progress.append(sum(len(ids) for ids in received.values()))
        sandbox_client.clear_faults()
        final = fleet.start(settings.path, "--exit-when-idle")
        assert final.wait(240) == 0, final.log()[-3000:]
        fleet.assert_logs_clean()
    elapsed = time.monotonic() - started

    duplicates = assert_delivered(sandbox_client, settings, expected)
    committed, ends = offsets(settings)
    assert sum(ends.values()) == EVENTS
    assert committed == ends
    wanted = sum(len(ids) for ids in expected.values())
    assert progress[0] < wanted, "the first kill came after all was delivered"
    print(
        f"\nkill -9: {kills} kills, distinct events received after each kill "
        f"{progress} of {wanted}; duplicates {duplicates} "
        f"({duplicates / wanted:.1%}); {elapsed:.0f}s"
    )
