"""A storm of HTTP faults: 5xx, 429 bursts, slow answers and resets lose nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer.sandbox import SandboxClient

from .resilience_support import (
    Fleet,
    all_received,
    assert_delivered,
    committed_to_end,
    expected_ids,
    fast_group,
    produce_generated,
    wait_for,
)

FIRST_WAVE = 4000
LATER_WAVE = 500
MAX_WAVES = 20
STORM_LIMIT_S = 120


def _rejections(client: SandboxClient) -> dict[str, int]:
    """Requests answered with each non-200 outcome, over every ad account."""
    total: dict[str, int] = {}
    for account in client.counts().values():
        for outcome, count in account["rejected_requests"].items():
            total[outcome] = total.get(outcome, 0) + count
    return total


def _storm_passed(client: SandboxClient) -> bool:
    """Every counted fault was used up and the 5xx share answered plenty."""
    left = [f for f in client.faults() if f["count"] is not None]
    seen = _rejections(client)
    server_errors = sum(seen.get(s, 0) for s in ("500", "502", "503"))
    return not left and server_errors >= 30 and seen.get("429", 0) >= 10


def test_fault_storm_ends_with_every_event_delivered_and_committed(
    write_config: Callable[..., Path], sandbox_client: SandboxClient, tmp_path: Path
) -> None:
    """Through 5xx answers, 429 bursts, slow answers and resets, nothing is lost."""
    # Retry-After of 1 s fits under retry_max_ms, so it is honoured in full.
    settings = fast_group(write_config(batch_size=100, retry_max_ms=1500))
    assert settings.path is not None
    storm: list[dict[str, Any]] = [
        {"status": 503, "ratio": 0.15, "seed": 1},
        {"status": 500, "ratio": 0.1, "seed": 2},
        {"status": 502, "ratio": 0.05, "seed": 3},
        {"status": 429, "retry_after": 1, "count": 6},
        {"delay_seconds": 1.5, "ratio": 0.2, "count": 8, "seed": 4},
        {"reset_connection": True, "ratio": 0.2, "count": 8, "seed": 5},
    ]
    for rule in storm:
        sandbox_client.add_fault(**rule)
    events = produce_generated(settings, FIRST_WAVE, seed=1)

    with Fleet(tmp_path) as fleet:
        service = fleet.start(settings.path)
        waves = 1
        deadline = time.monotonic() + STORM_LIMIT_S
        # More events while the storm lasts, so it always meets traffic; a
        # second burst of 429s arrives midway.
        while not _storm_passed(sandbox_client):
            assert time.monotonic() < deadline, (
                f"storm never passed: {_rejections(sandbox_client)}"
            )
            assert service.alive, service.log()[-3000:]
            assert waves < MAX_WAVES, "the storm's faults were never all used up"
            if waves == 3:
                sandbox_client.add_fault(status=429, retry_after=1, count=6)
            waves += 1
            events += produce_generated(settings, LATER_WAVE, seed=waves)
            time.sleep(1)
        storm_seen = _rejections(sandbox_client)
        sandbox_client.clear_faults()

        expected = expected_ids(settings, events)
        wait_for(
            lambda: all_received(sandbox_client, settings, expected),
            90,
            "every event delivered after the storm",
        )
        wait_for(lambda: committed_to_end(settings), 30, "commits reach the end")
        service.send(signal.SIGTERM)
        assert service.wait() == 0, service.log()[-3000:]
        fleet.assert_logs_clean()

    duplicates = assert_delivered(sandbox_client, settings, expected)
    assert committed_to_end(settings)
    assert "batch retry" in service.log()
    print(
        f"\nfault storm: {len(events)} events in {waves} waves, answers "
        f"{storm_seen}, duplicates {duplicates}"
    )
