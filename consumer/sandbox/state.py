"""In-memory, thread-safe state of the Pinterest sandbox: accounts, events, counters.

It also holds the fault rules that make the sandbox misbehave on purpose, so tests can
prove how a sender copes with rate limits, outages, slow answers and partial failures.
"""

from __future__ import annotations

import copy
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from consumer.sandbox.contract import check_event_time

# The per-event error for an event a fault rule names in fail_event_ids.
FAILED_ON_REQUEST = "sandbox: event failed on request"


@dataclass
class FaultRule:
    """One way to misbehave, applied to the matching requests of the events route."""

    ad_account_id: str | None = None
    count: int | None = None
    ratio: float | None = None
    status: int | None = None
    retry_after: float | None = None
    delay_seconds: float | None = None
    reset_connection: bool = False
    fail_event_ids: frozenset[str] | None = None
    refuse_token: str | None = None
    # A fixed seed makes "ratio" pick the same requests on every test run.
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def to_json(self) -> dict[str, Any]:
        """The rule as JSON for the admin API; a refused token is masked, not echoed."""
        return {
            "ad_account_id": self.ad_account_id,
            "count": self.count,
            "ratio": self.ratio,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay_seconds": self.delay_seconds,
            "reset_connection": self.reset_connection,
            "fail_event_ids": sorted(self.fail_event_ids or ()),
            "refuse_token": None if self.refuse_token is None else "***",
            "seed": self.seed,
        }

    def matches(
        self, ad_account_id: str, token: str | None, event_ids: set[str]
    ) -> bool:
        """Whether this rule concerns a request (before its ratio draw)."""
        if self.ad_account_id is not None and self.ad_account_id != ad_account_id:
            return False
        if self.refuse_token is not None and self.refuse_token != token:
            return False
        return not self.fail_event_ids or bool(self.fail_event_ids & event_ids)


@dataclass
class AccountCounters:
    """What one ad account's requests came to."""

    requests: int = 0
    test_requests: int = 0
    accepted_events: int = 0
    failed_events: int = 0
    rejected_requests: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "test_requests": self.test_requests,
            "accepted_events": self.accepted_events,
            "failed_events": self.failed_events,
            "rejected_requests": dict(self.rejected_requests),
        }


class SandboxState:
    """Everything the sandbox remembers; every method takes the one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._counters: dict[str, AccountCounters] = {}
        self._faults: list[FaultRule] = []

    # --- accounts ---------------------------------------------------------------
    def add_account(self, ad_account_id: str, token: str) -> None:
        with self._lock:
            self._tokens[ad_account_id] = token

    def ad_account_ids(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def token_known(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens.values()

    def token_for(self, ad_account_id: str) -> str | None:
        with self._lock:
            return self._tokens.get(ad_account_id)

    # --- events and counters ------------------------------------------------------
    def record(
        self,
        ad_account_id: str,
        outcome: int | str,
        accepted: list[dict[str, Any]] | None = None,
        failed: int = 0,
        *,
        test: bool = False,
    ) -> None:
        """Count one events request; keep its accepted events unless it was a test.

        ``outcome`` is the HTTP status sent, or a word when no status was sent.
        """
        with self._lock:
            counters = self._counters.setdefault(ad_account_id, AccountCounters())
            if test:
                counters.test_requests += 1
                return
            counters.requests += 1
            if outcome != 200:
                key = str(outcome)
                counters.rejected_requests[key] = (
                    counters.rejected_requests.get(key, 0) + 1
                )
            if accepted:
                stored = self._events.setdefault(ad_account_id, [])
                stored.extend(copy.deepcopy(accepted))
                counters.accepted_events += len(accepted)
            counters.failed_events += failed

    def events(self, ad_account_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events.get(ad_account_id, []))

    def counts(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {key: c.to_json() for key, c in self._counters.items()}

    def reset(self) -> None:
        """Forget events, counters and faults; registered accounts stay."""
        with self._lock:
            self._events.clear()
            self._counters.clear()
            self._faults.clear()

    # --- faults -----------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        with self._lock:
            self._faults.append(rule)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._faults]

    def take_fault(
        self, ad_account_id: str, token: str | None, event_ids: set[str]
    ) -> FaultRule | None:
        """The first rule that fires for this request, using up one of its count.

        Rules are tried in the order they were added; a rule whose ratio draw misses
        lets the next one try, and only a rule that fires spends its count.
        """
        with self._lock:
            for rule in self._faults:
                if not rule.matches(ad_account_id, token, event_ids):
                    continue
                if rule.ratio is not None and rule.rng.random() >= rule.ratio:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._faults.remove(rule)
                return rule
            return None


def judge_events(
    events: list[dict[str, Any]],
    now: int,
    max_age_seconds: int,
    fail_event_ids: frozenset[str] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pinterest's per-event verdicts for a schema-valid batch, and the events kept.

    The first value is the ``ConversionApiResponse`` body: one entry per input event in
    input order, with empty strings (not null) where there is no message.
    """
    results, accepted = [], []
    for event in events:
        error = check_event_time(event["event_time"], now, max_age_seconds)
        if error is None and fail_event_ids and event["event_id"] in fail_event_ids:
            error = FAILED_ON_REQUEST
        if error is None:
            accepted.append(event)
        status = "failed" if error else "processed"
        results.append(
            {"status": status, "error_message": error or "", "warning_message": ""}
        )
    summary = {
        "num_events_received": len(results),
        "num_events_processed": len(accepted),
        "events": results,
    }
    return summary, accepted
