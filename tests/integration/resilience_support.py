"""Shared by the resilience tests: service subprocesses, expectations and checks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer import codec, config, envelope
from consumer.generate import generate
from consumer.kafka_admin import committed_offsets, end_offsets
from consumer.mapping import map_event
from consumer.produce import produce
from consumer.sandbox import SandboxClient

# Tokens of the two test destinations, the domain of every generated email and
# the part every generated phone number shares: none may appear in any log line.
FORBIDDEN_IN_LOGS = ("pina_main", "pina_variants", "@example.com", "(555) 01")
_REPO = Path(__file__).resolve().parents[2]
# A process that was asked to stop and has not exited by then is stuck.
_EXIT_WAIT_S = 60.0


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    detail: Callable[[], object] | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout``.

    ``detail`` is called on failure and its result added to the message.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f"; {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout}s: {what}{extra}")
        time.sleep(0.2)


def fast_group(path: Path, **consumer: int) -> config.Config:
    """Shorten the group session so a killed member's partitions move in seconds.

    librdkafka's default session timeout is 45 s; a SIGKILLed member keeps its
    partitions that long. 6 s is the broker's smallest allowed session.
    ``consumer`` adds more librdkafka settings (dots written as underscores).
    """
    settings = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    settings.update({k.replace("_", "."): v for k, v in consumer.items()})
    with path.open("a", encoding="utf-8") as handle:
        handle.write("[kafka.consumer]\n")
        handle.writelines(f'"{k}" = {v}\n' for k, v in settings.items())
    return config.load(path)


def produce_generated(
    settings: config.Config, count: int, seed: int
) -> list[dict[str, Any]]:
    """Produce ``count`` generated events (ids ``gen-{seed}-N``); return them."""
    events = list(generate(count, seed=seed))
    assert settings.path is not None
    lines = settings.path.with_name(f"events-{seed}.jsonl")
    lines.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    report = produce(settings, [str(lines)])
    assert report.produced == count, report
    assert not report.failed and not report.invalid, report
    return events


def expected_ids(
    settings: config.Config, events: list[dict[str, Any]]
) -> dict[str, set[str]]:
    """Per destination, the event ids the mapper says it must receive."""
    expected: dict[str, set[str]] = {d.name: set() for d in settings.destinations}
    now = time.time()
    for raw in events:
        event = codec.decode(codec.encode(envelope.from_envelope(raw)))
        for destination in settings.destinations:
            outcome = map_event(event, destination, now)
            if outcome.kind == "send":
                expected[destination.name].add(str(outcome.event_id))
    return expected


def received_ids(
    client: SandboxClient, settings: config.Config
) -> dict[str, Counter[str]]:
    """Per destination, how many times the sandbox accepted each event id."""
    return {
        d.name: Counter(e["event_id"] for e in client.events(d.ad_account_id))
        for d in settings.destinations
    }


def all_received(
    client: SandboxClient, settings: config.Config, expected: dict[str, set[str]]
) -> bool:
    """Whether every destination has received every event it should."""
    received = received_ids(client, settings)
    return all(expected[name] <= set(received[name]) for name in expected)


def offsets(settings: config.Config) -> tuple[dict[int, int | None], dict[int, int]]:
    """The group's committed offsets and the topic's end offsets, per partition."""
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    return committed, ends


def progress(settings: config.Config) -> str:
    """Committed and end offsets per partition, for failure messages."""
    committed, ends = offsets(settings)
    return f"committed {committed}, ends {ends}"


def committed_to_end(settings: config.Config) -> bool:
    """Whether the group has committed every non-empty partition up to its end."""
    committed, ends = offsets(settings)
    return all(committed.get(p) == end for p, end in ends.items() if end)


def assert_delivered(
    client: SandboxClient, settings: config.Config, expected: dict[str, set[str]]
) -> int:
    """Assert that each destination got exactly its events, each at least once.

    Returns the number of duplicates (deliveries beyond the first of each id).
    """
    received = received_ids(client, settings)
    duplicates = 0
    for name, wanted in expected.items():
        got = set(received[name])
        missing = sorted(wanted - got)
        extra = sorted(got - wanted)
        assert not missing, f"{name}: {len(missing)} events lost, e.g. {missing[:5]}"
        assert not extra, f"{name}: {len(extra)} unexpected events, e.g. {extra[:5]}"
        duplicates += sum(received[name].values()) - len(got)
    return duplicates


class ServiceProcess:
    """``python -m consumer run`` in a child process, its output in a log file."""

    def __init__(self, config_path: Path, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "consumer",
                    "run",
                    "--config",
                    str(config_path),
                    *args,
                ],
                cwd=_REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Wait until the log contains ``text``; fail if the process exits first."""

        def seen() -> bool:
            if text in self.log():
                return True
            assert self.alive, f"exited ({self.proc.returncode}) before {text!r}"
            return False

        wait_for(seen, timeout, f"{text!r} in {self.log_path.name}")

    def send(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    def wait(self, timeout: float = _EXIT_WAIT_S) -> int:
        """The exit status; fails (after killing it) if it runs past ``timeout``."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            tail = "\n".join(self.log().splitlines()[-30:])
            raise AssertionError(
                f"{self.log_path.name} still running after {timeout}s:\n{tail}"
            ) from None

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.send(signal.SIGKILL)
        self.proc.wait(_EXIT_WAIT_S)


class Fleet:
    """Every service process a test starts; ``with`` kills what is left at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ServiceProcess] = []

    def start(self, config_path: Path, *args: str) -> ServiceProcess:
        log = self.log_dir / f"service-{len(self.processes) + 1}.log"
        process = ServiceProcess(config_path, log, *args)
        self.processes.append(process)
        return process

    def assert_logs_clean(self) -> None:
        """No log of any process holds an access token, raw email or phone."""
        assert self.processes
        for process in self.processes:
            text = process.log()
            for forbidden in FORBIDDEN_IN_LOGS:
                assert forbidden not in text, (
                    f"{forbidden!r} in {process.log_path.name}"
                )

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            if process.alive:
                process.kill()
