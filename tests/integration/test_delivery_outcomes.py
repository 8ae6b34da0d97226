"""The Deliverer against the real sandbox on loopback: every outcome of a batch,
plus the pure helpers behind retries (_retry_after, _failed_events, _backoff)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.batching import Batch
from consumer.config import DeliverySettings, Destination, PinterestSettings
from consumer.delivery import Completion, Deliverer, _failed_events, _retry_after
from consumer.sandbox import Sandbox, SandboxClient
from consumer.watermarks import PieceRef

ACCOUNT = "549755810042"
TOKEN = "pina_delivery_outcomes"
FAST = DeliverySettings(retry_initial_ms=20, retry_max_ms=200)
WAIT_S = 20.0


def destination(**overrides: Any) -> Destination:
    fields: dict[str, Any] = {
        "name": "main",
        "ad_account_id": ACCOUNT,
        "tag_id": "2612345678901",
        "access_token": TOKEN,
        "retry_for_seconds": None,
        **overrides,
    }
    return Destination(**fields)


def pin_event(event_id: str, **extra: Any) -> dict[str, Any]:
    """A Pinterest event the sandbox's contract accepts."""
    return {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": int(time.time()),
        "event_id": event_id,
        "user_data": {"client_ip_address": "127.0.0.1", "client_user_agent": "ua"},
        **extra,
    }


def batch_of(*events: dict[str, Any], dest: Destination | None = None) -> Batch:
    refs = [PieceRef(("events", 0), 1, offset) for offset in range(len(events))]
    return Batch(dest or destination(), list(events), refs)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with the test account registered."""
    with Sandbox(log_requests=False) as running:
        running.state.add_account(ACCOUNT, TOKEN)
        yield running


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[SandboxClient]:
    """The sandbox's admin API."""
    with SandboxClient(sandbox.url) as client:
        yield client


@pytest.fixture
def completions() -> queue.SimpleQueue[Completion]:
    return queue.SimpleQueue()


def start(
    sandbox: Sandbox,
    completions: queue.SimpleQueue[Completion],
    *,
    test_mode: bool = False,
    settings: DeliverySettings = FAST,
) -> Deliverer:
    pinterest = PinterestSettings(
        api_url=sandbox.url, test_mode=test_mode, timeout_seconds=5
    )
    return Deliverer(pinterest, settings, completions).start()


@pytest.fixture
def deliverer(
    sandbox: Sandbox, completions: queue.SimpleQueue[Completion]
) -> Iterator[Deliverer]:
    running = start(sandbox, completions)
    try:
        yield running
    finally:
        running.stop()


def ids(admin: SandboxClient) -> list[str]:
    return [event["event_id"] for event in admin.events(ACCOUNT)]


def test_accepted_batch_settles_every_event(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """A 200 answer accepts every event, in one attempt, and the sandbox has them."""
    batch = batch_of(pin_event("a"), pin_event("b"), pin_event("c"))
    deliverer.submit(batch)
    done = completions.get(timeout=WAIT_S)
    assert done.batch is batch
    assert sorted(done.accepted) == [0, 1, 2]
    assert done.failed == {}
    assert done.attempts == 1
    assert ids(admin) == ["a", "b", "c"]


def test_422_with_details_fails_only_the_named_events(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """Per-event failures in a 422 fail those events; the rest are accepted."""
    admin.add_fault(fail_event_ids=["b"])
    deliverer.submit(batch_of(pin_event("a"), pin_event("b"), pin_event("c")))
    done = completions.get(timeout=WAIT_S)
    assert sorted(done.accepted) == [0, 2]
    assert list(done.failed) == [1]
    assert "sandbox: event failed on request" in str(done.failed[1])
    assert ids(admin) == ["a", "c"]


def test_400_from_one_bad_event_is_split_so_only_it_fails(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """A whole-request 400 is bisected; the others still reach Pinterest."""
    events = [pin_event(f"e{i}") for i in range(5)]
    events[3]["custom_data"] = {"not_a_field": 1}
    deliverer.submit(batch_of(*events))
    done = completions.get(timeout=WAIT_S)
    assert list(done.failed) == [3]
    assert "not_a_field" in str(done.failed[3])
    assert sorted(done.accepted) == [0, 1, 2, 4]
    assert sorted(ids(admin)) == ["e0", "e1", "e2", "e4"]
    assert done.attempts > 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "count": 3},
        {"status": 429, "count": 2},
        {"status": 500, "count": 1},
        {"reset_connection": True, "count": 2},
    ],
    ids=["503", "429", "500", "reset"],
)
def test_retryable_answers_are_retried_until_accepted(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
    fault: dict[str, Any],
) -> None:
    """Server errors, rate limits and reset connections end in acceptance."""
    admin.add_fault(ad_account_id=ACCOUNT, **fault)
    deliverer.submit(batch_of(pin_event("a"), pin_event("b")))
    done = completions.get(timeout=WAIT_S)
    assert sorted(done.accepted) == [0, 1]
    assert done.failed == {}
    assert done.attempts == fault["count"] + 1
    assert ids(admin) == ["a", "b"]


def test_retry_after_is_honoured(
    sandbox: Sandbox,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """The retry after a 429 with Retry-After: 1 comes no sooner than a second."""
    settings = DeliverySettings(retry_initial_ms=10, retry_max_ms=5000)
    deliverer = start(sandbox, completions, settings=settings)
    try:
        admin.add_fault(status=429, retry_after=1, count=1)
        started = time.monotonic()
        deliverer.submit(batch_of(pin_event("a")))
        done = completions.get(timeout=WAIT_S)
        elapsed = time.monotonic() - started
    finally:
        deliverer.stop()
    assert done.accepted == [0]
    assert done.attempts == 2
    assert elapsed >= 1.0


def test_refused_token_is_retried_and_delivered_once_cleared(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """A 401 is not a failure: the batch waits and goes through after the fix."""
    admin.add_fault(refuse_token=TOKEN)
    deliverer.submit(batch_of(pin_event("a")))
    with pytest.raises(queue.Empty):
        completions.get(timeout=0.5)
    assert deliverer.health["main"].state == "credentials_refused"
    assert admin.counts()[ACCOUNT]["rejected_requests"].get("401", 0) >= 2
    admin.clear_faults()
    done = completions.get(timeout=WAIT_S)
    assert done.accepted == [0]
    assert ids(admin) == ["a"]
    assert deliverer.health["main"].state == "ok"


def test_test_mode_adds_test_true(
    sandbox: Sandbox,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """In test mode the request carries ?test=true, so the sandbox stores nothing."""
    deliverer = start(sandbox, completions, test_mode=True)
    try:
        deliverer.submit(batch_of(pin_event("a")))
        done = completions.get(timeout=WAIT_S)
    finally:
        deliverer.stop()
    assert done.accepted == [0]
    counts = admin.counts()[ACCOUNT]
    assert counts["test_requests"] == 1
    assert counts["requests"] == 0
    assert admin.events(ACCOUNT) == []


def test_exhausted_retry_budget_fails_every_event_with_last_error(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
) -> None:
    """With retry_for set, a batch that keeps getting 503 comes back failed."""
    admin.add_fault(status=503)
    batch = batch_of(
        pin_event("a"), pin_event("b"), dest=destination(retry_for_seconds=0.3)
    )
    deliverer.submit(batch)
    done = completions.get(timeout=WAIT_S)
    assert done.accepted == []
    assert sorted(done.failed) == [0, 1]
    assert "503" in str(done.failed[0])


def test_destinations_do_not_share_a_concurrency_limit(
    deliverer: Deliverer,
    completions: queue.SimpleQueue[Completion],
    admin: SandboxClient,
    sandbox: Sandbox,
) -> None:
    """A stuck destination does not hold up another one."""
    other = "549755810043"
    sandbox.state.add_account(other, "pina_other")
    admin.add_fault(ad_account_id=ACCOUNT, status=503)
    stuck = destination()
    free = destination(name="other", ad_account_id=other, access_token="pina_other")
    for _ in range(3):
        deliverer.submit(batch_of(pin_event("s"), dest=stuck))
    deliverer.submit(batch_of(pin_event("f"), dest=free))
    done = completions.get(timeout=WAIT_S)
    assert done.batch.destination.name == "other"
    assert done.accepted == [0]


def test_every_batch_comes_back_even_if_its_body_cannot_be_built(
    deliverer: Deliverer, completions: queue.SimpleQueue[Completion]
) -> None:
    """A batch whose body cannot be serialised comes back with its events failed."""
    deliverer.submit(batch_of(pin_event("a", custom_data={"content_ids": {"x"}})))
    done = completions.get(timeout=3)
    assert done.accepted == []
    assert "could not be built" in done.failed[0].reason


# --- the pure helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("soon", None)],
)
def test_retry_after_reads_seconds(header: str | None, expected: float | None) -> None:
    """Retry-After as seconds is read as a float, never negative; junk is None."""
    assert _retry_after(header) == expected


def test_retry_after_reads_an_http_date() -> None:
    """Retry-After as an HTTP date gives the seconds until then; past dates give 0."""
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    seconds = _retry_after(future)
    assert seconds is not None
    assert 25 <= seconds <= 31
    assert _retry_after(past) == 0.0


@given(st.text(max_size=40))
def test_retry_after_never_raises_on_any_header(header: str) -> None:
    """Whatever a server sends as Retry-After, the answer is a delay or None."""
    value = _retry_after(header)
    assert value is None or value >= 0


def test_failed_events_reads_the_422_details() -> None:
    """Indices with status failed are returned with their messages."""
    body = {
        "code": 953,
        "details": {
            "events": [
                {"status": "processed", "error_message": ""},
                {"status": "failed", "error_message": "too old"},
                {"status": "failed", "error_message": ""},
            ]
        },
    }
    assert _failed_events(body) == {1: "too old", 2: "failed without a message"}


def test_failed_events_reads_a_2xx_summary_without_details() -> None:
    """A 200 body with events at top level is read the same way."""
    body = {"events": [{"status": "failed", "error_message": "x"}]}
    assert _failed_events(body) == {0: "x"}


@pytest.mark.parametrize(
    "body",
    [None, "text", [], {}, {"details": "x"}, {"events": "x"}, {"events": [1, None]}],
)
def test_failed_events_tolerates_odd_bodies(body: Any) -> None:
    """Bodies of unexpected shape mean: no per-event failures."""
    assert _failed_events(body) == {}


def helper(settings: DeliverySettings) -> Deliverer:
    """A Deliverer that is never started, for its backoff arithmetic."""
    return Deliverer(PinterestSettings(), settings, queue.SimpleQueue())


@given(st.integers(1, 60))
def test_backoff_stays_between_half_step_and_ceiling(attempt: int) -> None:
    """Equal jitter: at least half the exponential step, never above retry_max."""
    settings = DeliverySettings(retry_initial_ms=100, retry_max_ms=5000)
    delay = helper(settings)._backoff(attempt, None)
    step = min(5.0, 0.1 * 2 ** (attempt - 1))
    assert step / 2 <= delay <= step


def test_backoff_waits_at_least_retry_after_within_ceiling() -> None:
    """A Retry-After under retry_max is never cut short."""
    settings = DeliverySettings(retry_initial_ms=10, retry_max_ms=30_000)
    assert helper(settings)._backoff(1, 12.0) >= 12.0


def test_backoff_caps_a_long_retry_after_at_the_ceiling() -> None:
    """Retry-After beyond retry_max is capped there, so one answer cannot stall us."""
    settings = DeliverySettings(retry_initial_ms=10, retry_max_ms=30_000)
    assert helper(settings)._backoff(1, 120.0) == 30.0


def test_backoff_survives_a_very_long_outage() -> None:
    """After thousands of attempts the backoff is still the ceiling, not an error."""
    settings = DeliverySettings(retry_initial_ms=500, retry_max_ms=30_000)
    assert helper(settings)._backoff(1100, None) <= 30.0
