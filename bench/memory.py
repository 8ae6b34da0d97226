"""Memory of the service over a growing backlog while one destination refuses.

One local Kafka broker and one quiet loopback sandbox (in a child process) whose
fault rule answers 503 to every request for one destination's ad account; the
other destination accepts. For each backlog size (20 000, then 60 000 events by
default) a fresh topic is filled and the service runs over it in a fresh child
process for a fixed time, then ``request_stop()`` ends it from a timer thread.

The refused destination's batches are retried and never settle, so they pile up
until ``delivery.max_buffered_events`` is reached and the service pauses
fetching (the limit is 5 000 here, so that every run reaches it; see
``--max-buffered``). Memory should therefore stay flat however long the backlog: a
3x backlog should not take ~3x the memory. Printed per run: records read,
whether fetching was paused, the child's RSS before the run and its peak
(``getrusage``), and the growth; then the ratio of the growths. Nothing is
asserted.

    python bench/memory.py [--sizes 20000 60000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from typing import Any

# ``common`` puts the repository on sys.path, so it comes before ``consumer``.
import common

from consumer import config
from consumer.local_kafka import LocalKafka
from consumer.service import Service

_REFUSED = 0  # index of the destination whose ad account the sandbox refuses
_WATCH_INTERVAL_S = 0.1
# The refused destination gets about half of the generated events, so with the
# service's default limit (20 000 pieces) a 20 000-event backlog never fills it.
# A lower limit makes every run reach it; --max-buffered 20000 shows the default.
_MAX_BUFFERED = 5_000
# Closing the consumer revokes its partitions, and the revoke callback waits up
# to a fifth of max.poll.interval.ms (60 s by default) for in-flight batches,
# which the refused destination's never finish: shorter timeouts keep each
# run's stop at about 2 s. They do not change what is held in memory.
_CONSUMER = {"session.timeout.ms": "6000", "max.poll.interval.ms": "10000"}


def run_child(raw: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Run the service for ``seconds`` in this (fresh) process; its memory figures."""
    common.quiet_logs()
    service = Service(config.parse(raw))
    watched = {"paused": False, "max_rss": 0.0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_WATCH_INTERVAL_S):
            watched["paused"] = watched["paused"] or service.paused
            watched["max_rss"] = max(watched["max_rss"], common.current_rss_mib() or 0)

    timer = threading.Timer(seconds, service.request_stop)
    watcher = threading.Thread(target=watch, daemon=True)
    gc.collect()
    start_rss = common.current_rss_mib() or 0.0
    start_peak = common.peak_rss_mib()
    started = time.perf_counter()
    timer.start()
    watcher.start()
    try:
        stats = service.run()
    finally:
        timer.cancel()
        done.set()
        watcher.join()
    return {
        "seconds": time.perf_counter() - started,
        "records": stats.records,
        "paused": watched["paused"],
        "sent": {name: d.sent for name, d in stats.destinations.items()},
        "start_rss": start_rss,
        "start_peak": start_peak,
        "peak": common.peak_rss_mib(),
        "sampled_peak": watched["max_rss"],
        "committed": sum(stats.committed.values()),
    }


def run_size(
    bootstrap: str,
    api_url: str,
    dests: list[dict[str, Any]],
    size: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Fill a fresh topic with ``size`` events and measure one service run over it."""
    delivery = {"max_buffered_events": args.max_buffered}
    consumer = dict(_CONSUMER)
    for pair in args.consumer:
        key, _, value = pair.partition("=")
        consumer[key] = value
    raw = common.raw_config(
        bootstrap,
        common.unique_topic(f"bench-memory-{size}"),
        api_url,
        dests,
        # The stop waits this long for in-flight batches; the refused ones never end.
        pinterest={"timeout_seconds": 2},
        delivery=delivery,
    )
    raw["kafka"]["consumer"] = consumer
    print(f"producing {size:,} events ...", flush=True)
    common.produce_in_child(raw, size, args.seed)
    print(f"running the service for {args.seconds:g} s ...", flush=True)
    with common.SPAWN.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(run_child, (raw, args.seconds))
    return {**result, "size": size, "consumer": consumer}


def report(
    args: argparse.Namespace, dests: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> None:
    limit = args.max_buffered
    refused, accepted = dests[_REFUSED]["name"], dests[1 - _REFUSED]["name"]
    print()
    print(
        f"{refused} refused (503 on every request), {accepted} accepting; "
        f"max_buffered_events {limit:,}; each run stopped after {args.seconds:g} s"
    )
    extra = ", ".join(f"{k}={v}" for k, v in runs[0]["consumer"].items())
    print(f"consumer settings: {extra}")
    print()
    header = (
        f"{'backlog':>8} {'read':>7} {'paused':>6} {'sent ok':>8} {'run s':>5} "
        f"{'RSS start':>9} {'RSS peak':>8} {'growth':>7} {'sampled+':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        run["growth"] = run["peak"] - run["start_rss"]
        run["sampled_growth"] = run["sampled_peak"] - run["start_rss"]
        print(
            f"{run['size']:>8,} {run['records']:>7,} "
            f"{'yes' if run['paused'] else 'no':>6} "
            f"{run['sent'].get(accepted, 0):>8,} {run['seconds']:>5.1f} "
            f"{run['start_rss']:>9.1f} "
            f"{run['peak']:>8.1f} {run['growth']:>+7.1f} "
            f"{run['sampled_growth']:>+8.1f}"
        )
    print()
    print("MiB; growth: getrusage peak over the RSS just before run(); sampled+:")
    print("  highest RSS sampled every 0.1 s over the same start; read: records read")
    print("  before the stop; sent ok: events the accepting destination delivered;")
    print("  run s: run() from start to return, the stop included.")
    if len(runs) >= 2:
        first, last = runs[0], runs[-1]
        print()
        print(
            f"backlog {last['size'] / first['size']:.1f}x -> memory growth "
            f"{_ratio(last['growth'], first['growth'])} (getrusage), "
            f"{_ratio(last['sampled_growth'], first['sampled_growth'])} (sampled); "
            f"records read {last['records'] / max(first['records'], 1):.2f}x"
        )


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[20_000, 60_000], help="backlogs"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of each run (20)"
    )
    parser.add_argument(
        "--max-buffered",
        type=int,
        default=_MAX_BUFFERED,
        help=f"delivery.max_buffered_events ({_MAX_BUFFERED})",
    )
    parser.add_argument(
        "--consumer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra librdkafka consumer setting (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or not 1 <= args.seconds <= 300:
        parser.error("sizes must be positive and --seconds between 1 and 300")

    dests = common.destinations(2)
    fault = {"ad_account_id": dests[_REFUSED]["ad_account_id"], "status": 503}
    print("starting Kafka and the sandbox ...", flush=True)
    with (
        LocalKafka() as kafka,
        common.SandboxProcess(dests, faults=[fault]) as sandbox,
    ):
        runs = [
            run_size(kafka.bootstrap_servers, sandbox.url, dests, size, args)
            for size in args.sizes
        ]
    report(args, dests, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
