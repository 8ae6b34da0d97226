"""Posting batches to Pinterest on a background event loop, told apart by outcome.

The poll loop hands batches over with ``submit`` and never waits; every batch
comes back exactly once as a Completion on a queue. Outcomes:

- accepted: a 2xx answer; per-event ``failed`` entries in it fail only those events;
- per-event failures: a 422 whose ``details`` say which events failed;
- a whole-request 400: the batch is split in halves until the offending events
  are alone, and only they fail;
- retryable: network errors, timeouts and every other status (408, 429, 5xx,
  and 401/403 because a fixed token restores the flow) are retried with
  exponential backoff and jitter, honouring ``Retry-After`` up to the backoff
  ceiling (``retry_max_ms``), for at most the destination's ``retry_for``;
  then every event of the batch fails with the last answer as its reason, and
  the service turns them into dead letters. While a batch retries, its records
  stay unsettled, so nothing after them is committed.

When the service stops it drains: batches get no further retries, and one
that is not answered for good is handed back ``abandoned``: its records stay
uncommitted and are read again after a restart, instead of becoming dead
letters because the shutdown cut their retries short.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from consumer.batching import Batch
from consumer.config import DeliverySettings, Destination, PinterestSettings
from consumer.metrics import Metrics

log = structlog.get_logger("consumer.delivery")


@dataclass(frozen=True)
class Failure:
    """Why one event of a batch is not delivered, with Pinterest's own words."""

    reason: str
    pinterest_message: str | None = None


@dataclass
class Completion:
    """What became of one batch: accepted indices and failed ones with reasons."""

    batch: Batch
    accepted: list[int] = field(default_factory=list)
    failed: dict[int, Failure] = field(default_factory=dict)
    attempts: int = 0
    # HTTP status of the last answer (None: no answer, a network error).
    status: int | None = None
    # Given up because the service is stopping: nothing in it is settled.
    abandoned: bool = False


@dataclass
class DestinationHealth:
    """How a destination's deliveries are going, for the health report and logs."""

    state: str = "ok"  # ok, retrying or credentials_refused
    last_status: int | None = None
    last_error: str | None = None
    since: float = field(default_factory=time.time)


class _AbandonedError(Exception):
    """Raised inside a batch's task when draining ends its retries."""


@dataclass
class _Answer:
    status: int | None
    body: Any
    retry_after: float | None
    error: str | None = None
    gave_up: bool = False


class Deliverer:
    """Owns the HTTP client and the event loop thread that posts batches."""

    def __init__(
        self,
        pinterest: PinterestSettings,
        delivery: DeliverySettings,
        completions: queue.SimpleQueue[Completion],
        metrics: Metrics | None = None,
    ) -> None:
        self._pinterest = pinterest
        self._delivery = delivery
        self._completions = completions
        self._metrics = metrics
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="delivery", daemon=True
        )
        self._client: httpx.AsyncClient | None = None
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._draining = False
        self._sleeping: set[asyncio.Task[Any]] = set()
        self.health: dict[str, DestinationHealth] = {}

    def start(self) -> Deliverer:
        """Start the event loop thread and the pooled HTTP client."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        return self

    def submit(self, batch: Batch) -> None:
        """Hand a batch over; its Completion arrives on the queue later."""
        self._loop.call_soon_threadsafe(self._spawn, batch)

    def drain(self) -> None:
        """No more retries: batches waiting to retry come back abandoned now."""
        self._loop.call_soon_threadsafe(self._start_draining)

    def _start_draining(self) -> None:
        self._draining = True
        for task in list(self._sleeping):
            task.cancel()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what is still retrying, close the client and end the thread."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        try:
            future.result(timeout)
        except TimeoutError:
            log.warning("delivery stop timed out", timeout_s=timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    async def _open(self) -> None:
        slots = self._delivery.max_in_flight * 8
        self._client = httpx.AsyncClient(
            timeout=self._pinterest.timeout_seconds,
            limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
            headers={"Content-Type": "application/json"},
        )

    async def _close(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def _spawn(self, batch: Batch) -> None:
        task = self._loop.create_task(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: Batch) -> None:
        destination = batch.destination
        limit = self._limits.setdefault(
            destination.name, asyncio.Semaphore(self._delivery.max_in_flight)
        )
        completion = Completion(batch)
        started = time.monotonic()
        async with limit:
            try:
                await self._post_all(destination, batch.events, 0, completion)
            except (_AbandonedError, asyncio.CancelledError):
                if self._stopping:
                    raise
                # Draining: give the batch back untouched, to be read again.
                self._completions.put(Completion(batch, abandoned=True))
                return
            except (ValueError, TypeError, RecursionError) as exc:
                # A body that cannot be built would never be accepted: fail the
                # events that were not answered yet instead of losing the batch.
                failure = Failure(f"request body could not be built: {exc}")
                answered = set(completion.accepted) | set(completion.failed)
                for index in range(len(batch)):
                    if index not in answered:
                        completion.failed[index] = failure
        log.info(
            "batch delivered",
            destination=destination.name,
            batch=batch.id,
            events=len(batch),
            status=completion.status,
            accepted=len(completion.accepted),
            failed=len(completion.failed),
            attempts=completion.attempts,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        self._completions.put(completion)

    async def _post_all(
        self,
        destination: Destination,
        events: list[dict[str, Any]],
        first: int,
        completion: Completion,
    ) -> None:
        answer = await self._post_until_answered(destination, events, completion)
        if answer.gave_up:
            last = answer.error or f"HTTP {answer.status}: {_message(answer.body)}"
            failure = Failure(
                f"not accepted within {destination.retry_for_seconds:g} s of retries",
                last,
            )
            for index in range(len(events)):
                completion.failed[first + index] = failure
            return
        if answer.status == 400:
            message = _message(answer.body)
            if len(events) == 1:
                completion.failed[first] = Failure(
                    "Pinterest refused the request for this event (HTTP 400)", message
                )
                return
            # One bad event fails the whole request: split to find it, so the
            # others are still delivered.
            half = len(events) // 2
            await self._post_all(destination, events[:half], first, completion)
            await self._post_all(destination, events[half:], first + half, completion)
            return
        failed = _failed_events(answer.body)
        if answer.status == 422 and not failed:
            # A 422 without per-event details: nothing says which event was
            # processed, so every event of the request counts as failed.
            failed = dict.fromkeys(range(len(events)), _message(answer.body))
        for index in range(len(events)):
            if index in failed:
                completion.failed[first + index] = Failure(
                    "Pinterest failed this event", failed[index]
                )
            else:
                completion.accepted.append(first + index)

    async def _post_until_answered(
        self,
        destination: Destination,
        events: list[dict[str, Any]],
        completion: Completion,
    ) -> _Answer:
        body = json.dumps({"data": events}, separators=(",", ":")).encode()
        health = self.health.setdefault(destination.name, DestinationHealth())
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            completion.attempts += 1
            answer = await self._post(destination, body)
            completion.status = answer.status
            _note(health, answer)
            if answer.status is not None and (
                200 <= answer.status < 300 or answer.status in (400, 422)
            ):
                return answer
            if self._draining:
                raise _AbandonedError
            delay = self._backoff(attempt, answer.retry_after)
            budget = destination.retry_for_seconds
            if budget is not None and time.monotonic() - started + delay > budget:
                answer.gave_up = True
                log.error(
                    "batch given up; its events become dead letters",
                    destination=destination.name,
                    events=len(events),
                    status=answer.status,
                    error=answer.error or _message(answer.body),
                    attempts=attempt,
                    retry_for_s=budget,
                )
                return answer
            log.warning(
                "batch retry",
                destination=destination.name,
                events=len(events),
                status=answer.status,
                error=answer.error or _message(answer.body),
                attempt=attempt,
                retry_in_s=round(delay, 2),
                credentials_refused=answer.status in (401, 403),
            )
            task = asyncio.current_task()
            assert task is not None
            self._sleeping.add(task)
            try:
                await asyncio.sleep(delay)
            finally:
                self._sleeping.discard(task)

    async def _post(self, destination: Destination, body: bytes) -> _Answer:
        assert self._client is not None
        url = (
            f"{self._pinterest.api_url}/ad_accounts/{destination.ad_account_id}/events"
        )
        params = {"test": "true"} if self._pinterest.test_mode else None
        headers = {"Authorization": f"Bearer {destination.access_token}"}
        started = time.monotonic()
        try:
            response = await self._client.post(
                url, content=body, headers=headers, params=params
            )
        except httpx.HTTPError as exc:
            self._count(destination, "error", started)
            return _Answer(None, None, None, error=f"{type(exc).__name__}: {exc}")
        self._count(destination, str(response.status_code), started)
        try:
            parsed = response.json()
        except (ValueError, RecursionError):
            parsed = None  # not JSON (or absurdly nested): judged by status alone
        return _Answer(
            response.status_code,
            parsed,
            _retry_after(response.headers.get("Retry-After")),
        )

    def _count(self, destination: Destination, status: str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.requests.labels(destination.name, status).inc()
            self._metrics.request_seconds.labels(destination.name).observe(
                time.monotonic() - started
            )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        initial = self._delivery.retry_initial_ms / 1000
        ceiling = self._delivery.retry_max_ms / 1000
        # Equal jitter: at least half the exponential step, so retries from many
        # batches spread out without ever retrying immediately.
        # The exponent stops growing once the ceiling is reached, so a long
        # outage retried "forever" never overflows.
        step: float = min(ceiling, initial * 2.0 ** min(attempt - 1, 40))
        delay = step / 2 + random.uniform(0, step / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, ceiling))
        return delay


def _note(health: DestinationHealth, answer: _Answer) -> None:
    if answer.status in (401, 403):
        state = "credentials_refused"
    elif (
        answer.status is not None
        and answer.status < 500
        and answer.status
        not in (
            408,
            429,
        )
    ):
        state = "ok"
    else:
        state = "retrying"
    if state != health.state:
        health.state, health.since = state, time.time()
    health.last_status, health.last_error = answer.status, answer.error


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(moment.timestamp()) - time.time())


def _failed_events(body: Any) -> dict[int, str]:
    """Indices of events Pinterest reported as failed, with its message."""
    if not isinstance(body, dict):
        return {}
    response = body.get("details", body)
    entries = response.get("events") if isinstance(response, dict) else None
    if not isinstance(entries, list):
        return {}
    return {
        index: str(entry.get("error_message") or "failed without a message")
        for index, entry in enumerate(entries)
        if isinstance(entry, dict) and entry.get("status") == "failed"
    }


def _message(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return "no message in the answer"
