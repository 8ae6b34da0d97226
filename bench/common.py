"""Helpers shared by the benchmarks: configs, a sandbox process, RSS readings.

Nothing here measures anything. The sandbox runs in a child process so that its
request handling (JSON Schema validation of every batch) neither competes with the
service for the GIL nor shows up in the service's RSS.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # Run as ``python bench/x.py`` from a checkout without ``pip install -e``.
    sys.path.insert(0, str(ROOT))

from consumer import config, logs  # noqa: E402
from consumer.produce import produce  # noqa: E402
from consumer.sandbox import Sandbox  # noqa: E402

# Each benchmark spawns clean interpreters: no inherited threads, sockets or atexit.
SPAWN = multiprocessing.get_context("spawn")
TAG_ID = "2612345678901"
# Shapes of the destinations, cycled for K of them: one takes every source with
# product ids, the other web events only with variant ids and custom events.
_SHAPES: tuple[dict[str, Any], ...] = (
    {},
    {"content_id": "variant_id", "sources": ["web-shop"], "custom_events": True},
)
_SANDBOX_START_S = 30.0


def destinations(count: int) -> list[dict[str, Any]]:
    """``count`` destination tables with distinct ad accounts and tokens."""
    return [
        {
            "name": f"dest{i}",
            "ad_account_id": f"5497558{i:05d}",
            "tag_id": TAG_ID,
            "access_token": f"pina_bench_{i}",
            **_SHAPES[i % len(_SHAPES)],
        }
        for i in range(count)
    ]


def raw_config(
    bootstrap: str,
    topic: str,
    api_url: str,
    dests: list[dict[str, Any]],
    *,
    group: str | None = None,
    pinterest: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A configuration mapping for ``config.parse``; a fresh group unless named."""
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "topic": topic,
            "group_id": group or f"bench-{uuid.uuid4().hex[:12]}",
        },
        "pinterest": {"api_url": api_url, **(pinterest or {})},
        "delivery": dict(delivery or {}),
        "destinations": dests,
    }


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def quiet_logs() -> None:
    """Send the service's log lines to /dev/null so they cost almost nothing."""
    sink = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 - process-long
    logs.configure(level="warning", json=True, stream=sink)


def _produce(raw: dict[str, Any], count: int, seed: int) -> tuple[int, int]:
    quiet_logs()
    report = produce(config.parse(raw), [], generate_count=count, seed=seed)
    return report.produced, len(report.failed) + len(report.invalid)


def produce_in_child(raw: dict[str, Any], count: int, seed: int = 1) -> float:
    """Produce ``count`` generated events in a child process; returns seconds taken.

    A child keeps the producer's buffers out of the measuring process's peak RSS.
    """
    started = time.perf_counter()
    with SPAWN.Pool(1) as pool:
        produced, problems = pool.apply(_produce, (raw, count, seed))
    if produced != count or problems:
        raise RuntimeError(f"produced {produced} of {count} events ({problems} bad)")
    return time.perf_counter() - started


def _accept_any_body(_body: Any) -> None:
    return None


def _serve_sandbox(
    accounts: dict[str, str], faults: list[dict[str, Any]], validate: bool, conn: Any
) -> None:
    from consumer.sandbox import contract  # noqa: PLC0415
    from consumer.sandbox.admin import parse_fault_rule  # noqa: PLC0415

    if not validate:
        # JSON Schema validation costs the sandbox about 0.3 s of CPU per
        # 1000-event batch, which would make it, not the service, the bottleneck.
        contract.validation_error = _accept_any_body
    with Sandbox(accounts=accounts, log_requests=False) as sandbox:
        for fault in faults:
            sandbox.state.add_fault(parse_fault_rule(fault))
        conn.send(sandbox.url)
        while (request := conn.recv()) != "stop":
            if request == "cpu":
                conn.send(time.process_time())
        conn.send(sandbox.state.counts())


class SandboxProcess:
    """A quiet loopback ``Sandbox`` in a child process; ``counts`` after stopping.

    With ``validate=False`` the sandbox skips the JSON Schema check of request
    bodies (everything else, from tokens to event times, is still judged).
    """

    def __init__(
        self,
        dests: list[dict[str, Any]],
        faults: list[dict[str, Any]] | None = None,
        *,
        validate: bool = False,
    ) -> None:
        self.validate = validate
        accounts = {d["ad_account_id"]: d["access_token"] for d in dests}
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(
            target=_serve_sandbox,
            args=(accounts, faults or [], validate, child),
            name="bench-sandbox",
            daemon=True,
        )
        self.url = ""
        self.counts: dict[str, Any] = {}

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used so far."""
        self._conn.send("cpu")
        seconds: float = self._conn.recv()
        return seconds

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        if not self._conn.poll(_SANDBOX_START_S):
            self._process.kill()
            raise RuntimeError("the sandbox process did not start")
        self.url = self._conn.recv()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
            if self._conn.poll(10):
                self.counts = self._conn.recv()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float | None:
    """Resident set size now, from /proc; None where there is no /proc."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Highest current RSS seen during a phase, sampled every ``interval`` s.

    ``ru_maxrss`` only ever rises, so a phase whose peak stays under an earlier
    phase's shows no growth there; sampling gives each phase its own peak.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.start = current_rss_mib()
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            now = current_rss_mib()
            if now is not None and (self.peak is None or now > self.peak):
                self.peak = now

    @property
    def growth(self) -> float | None:
        if self.start is None or self.peak is None:
            return None
        return self.peak - self.start

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


class Span:
    """When work first started and when it last progressed, seen from a thread.

    ``counts`` returns (records read, pieces of work finished); the span runs from
    the first record to the last change of the finished count, which leaves out
    the group join before and the idle check and shutdown after.
    """

    def __init__(
        self, counts: Callable[[], tuple[int, int]], interval: float = 0.02
    ) -> None:
        self._counts = counts
        self.interval = interval
        self.first: float | None = None
        self.last: float | None = None
        self._seen = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _look(self) -> None:
        try:
            started, finished = self._counts()
        except RuntimeError:  # a dict grew while it was summed; look again later
            return
        now = time.perf_counter()
        if self.first is None and started:
            self.first = now
        if finished != self._seen:
            self._seen, self.last = finished, now

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._look()

    @property
    def seconds(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return self.last - self.first

    def __enter__(self) -> Span:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


class GcTimer:
    """Seconds spent in the cyclic garbage collector, and full collections."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def _callback(self, stage: str, info: dict[str, int]) -> None:
        if stage == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.full += info["generation"] == 2

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


@contextlib.contextmanager
def phase() -> Iterator[dict[str, float | None]]:
    """Time a phase: wall and CPU seconds, RSS growth (getrusage and sampled)."""
    result: dict[str, float | None] = {}
    before = peak_rss_mib()
    with RssSampler() as sampler:
        started, cpu = time.perf_counter(), time.process_time()
        yield result
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu
    result["peak_growth_mib"] = peak_rss_mib() - before
    result["sampled_growth_mib"] = sampler.growth
