"""``make demo``: local broker, Pinterest sandbox, sample events, one delivery run.

Everything runs on loopback with free ports. The service's own JSON log goes
to ``.demo/service.log`` so the terminal shows only the summary.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from consumer import config, logs
from consumer.kafka_admin import committed_offsets, end_offsets
from consumer.local_kafka import LocalKafka
from consumer.produce import produce
from consumer.run_stats import RunStats
from consumer.sandbox import Sandbox, SandboxClient
from consumer.service import Service

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "config" / "demo.toml"
SAMPLES = ROOT / "config" / "examples" / "events.jsonl"
GENERATED = 400


def run_demo() -> int:
    """Run the whole path once and print what each destination got."""
    if not DEMO_CONFIG.is_file() or not SAMPLES.is_file():
        print(f"the demo needs {DEMO_CONFIG} and {SAMPLES}: run it from a checkout")
        return 2
    workdir = ROOT / ".demo"
    workdir.mkdir(exist_ok=True)
    log_path = workdir / "service.log"

    print("converge-pinterest demo")
    started = time.monotonic()
    with LocalKafka() as kafka:
        print(
            f"  Kafka broker (KRaft, single node) on {kafka.bootstrap_servers}, "
            f"up in {time.monotonic() - started:.1f} s"
        )
        with Sandbox(log_requests=False) as sandbox:
            print(f"  Pinterest sandbox on {sandbox.url}")
            env = {
                **os.environ,
                "DEMO_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
                "DEMO_PINTEREST_API_URL": sandbox.url,
            }
            settings = config.load(DEMO_CONFIG, environ=env)
            for destination in settings.destinations:
                sandbox.state.add_account(
                    destination.ad_account_id, destination.access_token
                )
            return _deliver(settings, sandbox.url, log_path)


def _deliver(settings: config.Config, api_url: str, log_path: Path) -> int:
    with log_path.open("w", encoding="utf-8") as log_file:
        # Everything the libraries and the service log goes to the file, so the
        # terminal shows only this summary.
        logs.configure(level="info", json=True, stream=log_file)
        logs.register_secrets(d.access_token for d in settings.destinations)
        samples = produce(settings, [str(SAMPLES)])
        generated = produce(settings, [], generate_count=GENERATED, seed=7)
        produced = samples.produced + generated.produced
        print(
            f"  produced {samples.produced} sample events from "
            f"{SAMPLES.relative_to(ROOT)} and {generated.produced} generated ones "
            f"to '{settings.kafka.topic}'"
        )
        print(f"  running the service until every event is settled (log: {log_path})")
        started = time.monotonic()
        stats = Service(settings, exit_when_idle=True).run()
        elapsed = time.monotonic() - started
    print(f"  service caught up in {elapsed:.1f} s\n")

    with SandboxClient(api_url) as sandbox:
        received = {
            d.name: len(sandbox.events(d.ad_account_id)) for d in settings.destinations
        }
    _print_table(stats, received)
    return _verdict(settings, stats, produced, received)


def _print_table(stats: RunStats, received: dict[str, int]) -> None:
    header = f"  {'destination':<16}{'sent':>6}{'dead letters':>14}{'rejected':>10}"
    print(header + f"{'skipped':>9}{'at Pinterest':>14}")
    for name, count in received.items():
        d = stats.destinations[name]
        print(
            f"  {name:<16}{d.sent:>6}{d.dead_lettered:>14}{d.rejected:>10}"
            f"{d.skipped:>9}{count:>14}"
        )
    print()
    for name in received:
        for reason, count in stats.destinations[name].reasons.most_common():
            print(f"  {name}: {count} x {reason}")


def _verdict(
    settings: config.Config, stats: RunStats, produced: int, received: dict[str, int]
) -> int:
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    print(
        "\n  committed offsets: "
        + ", ".join(f"p{p} {committed.get(p)}/{end}" for p, end in sorted(ends.items()))
    )
    problems = []
    if stats.records != produced:
        problems.append(f"read {stats.records} records of {produced} produced")
    if any(committed.get(p) != end for p, end in ends.items() if end):
        problems.append("some partitions are not committed up to their end")
    for name, count in received.items():
        if count != stats.destinations[name].sent:
            problems.append(f"{name}: the sandbox holds {count} events")
    if problems:
        print("  demo FAILED: " + "; ".join(problems))
        return 1
    print(
        f"  every one of the {produced} events was delivered, or rejected or "
        "skipped with a reason, and every offset is committed"
    )
    return 0
