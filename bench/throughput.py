"""Throughput of the service, as a ratio against a bare consume-and-decode baseline.

One local Kafka broker and one quiet loopback sandbox (in a child process) serve
every phase. N generated events are produced once to a 3-partition topic, then:

1. baseline: a bare consumer group reads the whole topic and ``codec.decode``s every
   value (no mapping, no HTTP): events/s;
2. service: ``Service(config, exit_when_idle=True).run()`` with a fresh group over
   the same topic and K destinations, delivering to the sandbox: events/s and
   destination events/s;
3. decode only and mapping only: ``codec.decode`` and ``map_event`` (for every
   destination) timed in-process over the same N events, with no Kafka at all,
   to show which share of the service's time goes to each.

Each phase also reports how much the process's RSS grew: the ``getrusage`` peak
(which only rises, so it shows growth above every earlier phase) and the highest
RSS sampled during the phase over its start. Nothing is asserted; read the table.

    python bench/throughput.py [--events N] [--destinations K]
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from typing import Any

# ``common`` puts the repository on sys.path, so it comes before ``consumer``.
import common
from confluent_kafka import Consumer, libversion

from consumer import codec, config, envelope
from consumer.generate import generate
from consumer.local_kafka import LocalKafka
from consumer.mapping import map_event
from consumer.service import Service, consumer_settings

# The same batch and wait as the service's own poll loop.
_POLL_BATCH = 500
_POLL_TIMEOUT_S = 0.1
# Any phase that takes longer is stopped: the benchmark always ends by itself.
_PHASE_LIMIT_S = 150.0


def run_baseline(raw: dict[str, Any], expected: int) -> dict[str, Any]:
    """Consume the whole topic with a fresh group and decode every value."""
    cfg = config.parse(raw)
    decoded = 0
    first = last = 0.0
    with common.phase() as result:
        consumer = Consumer(consumer_settings(cfg))
        try:
            consumer.subscribe([cfg.kafka.topic])
            deadline = time.monotonic() + _PHASE_LIMIT_S
            while decoded < expected and time.monotonic() < deadline:
                messages = consumer.consume(_POLL_BATCH, _POLL_TIMEOUT_S)
                if messages and not first:
                    first = time.perf_counter()
                for message in messages:
                    if message.error() is None:
                        codec.decode(message.value())
                        decoded += 1
                last = time.perf_counter()
        finally:
            consumer.close()
    return {**result, "events": decoded, "span": last - first if first else None}


def run_service(raw: dict[str, Any], sandbox: common.SandboxProcess) -> dict[str, Any]:
    """Run the service until it has caught up (or the phase limit stops it)."""
    service = Service(config.parse(raw), exit_when_idle=True)
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        service.request_stop()

    limit = threading.Timer(_PHASE_LIMIT_S, stop)
    limit.daemon = True

    def counts() -> tuple[int, int]:
        done = list(service.stats.destinations.values())
        return service.stats.records, sum(d.sent + d.dead_lettered for d in done)

    sandbox_cpu = sandbox.cpu_seconds()
    with (
        common.phase() as result,
        common.Span(counts) as span,
        common.GcTimer() as collector,
    ):
        limit.start()
        try:
            stats = service.run()
        finally:
            limit.cancel()
    sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    per_destination = stats.destinations.values()
    return {
        **result,
        "span": span.seconds,
        "sandbox_cpu_seconds": sandbox_cpu,
        "gc_seconds": collector.seconds,
        "gc_full": collector.full,
        "events": stats.records,
        "sent": sum(d.sent for d in per_destination),
        "dead_lettered": sum(d.dead_lettered for d in per_destination),
        "rejected": sum(d.rejected for d in per_destination),
        "skipped": sum(d.skipped for d in per_destination),
        "undecodable": stats.undecodable,
        "committed": sum(stats.committed.values()),
        "stopped_by_limit": fired.is_set(),
    }


def run_in_process(
    count: int, seed: int, dests: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time decode only and mapping only over the same generated events.

    Works through the values in chunks of one poll batch, as the service does, so
    that no list of every decoded event makes the garbage collector's passes
    grow with N. Two passes run and the second is reported: the first one pays
    for growing the heap, which the service has done by its steady state.
    """
    destinations = config.parse(
        common.raw_config("127.0.0.1:9", "unused", "http://127.0.0.1:9/v5", dests)
    ).destinations
    values = [codec.encode(envelope.from_envelope(e)) for e in generate(count, seed)]
    now = time.time()
    for _ in range(2):
        decode_s = map_s = 0.0
        sends = 0
        with common.phase() as both:
            for start in range(0, len(values), _POLL_BATCH):
                chunk = values[start : start + _POLL_BATCH]
                began = time.perf_counter()
                events = [codec.decode(value) for value in chunk]
                decoded = time.perf_counter()
                for event in events:
                    for destination in destinations:
                        sends += map_event(event, destination, now).kind == "send"
                map_s += time.perf_counter() - decoded
                decode_s += decoded - began
    # Both rows share the phase's RSS figures: they run interleaved.
    decoding = {**both, "seconds": decode_s, "events": len(values)}
    mapping = {**both, "seconds": map_s, "events": len(values), "sent": sends}
    return decoding, mapping


def _rate(result: dict[str, Any], key: str = "events", *, span: bool = False) -> float:
    seconds = (result.get("span") if span else None) or result["seconds"]
    return float(result[key]) / seconds


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Print the table and the notes under it."""
    baseline, service = results["baseline"], results["service"]
    decoding, mapping = results["decoding"], results["mapping"]
    base_rate = _rate(baseline)
    k = args.destinations
    rows = [
        ("baseline consume+decode", baseline, "events"),
        (f"service, K={k}", service, "events"),
        ("  destination events", service, "sent"),
        ("decode only", decoding, "events"),
        (f"mapping only, x{k}", mapping, "events"),
    ]
    print()
    print(
        f"{args.events:,} events, {k} destinations, 3 partitions "
        f"(produced in {results['produce_s']:.1f} s); Python "
        f"{platform.python_version()}, librdkafka {libversion()[0]}, {_cpus()} CPUs"
    )
    print()
    header = (
        f"{'phase':<24} {'events':>7} {'seconds':>7} {'events/s':>8} {'ratio':>6} "
        f"{'steady/s':>8} {'ratio':>6} {'RSS+':>6} {'sampled+':>8}"
    )
    print(header)
    print("-" * len(header))
    base_steady = _rate(baseline, span=True)
    for label, result, key in rows:
        rate, steady = _rate(result, key), _rate(result, key, span=True)
        print(
            f"{label:<24} {result[key]:>7,} {result['seconds']:>7.2f} {rate:>8,.0f} "
            f"{rate / base_rate:>5.2f}x {steady:>8,.0f} {steady / base_steady:>5.2f}x "
            f"{_mib(result['peak_growth_mib']):>6} "
            f"{_mib(result['sampled_growth_mib']):>8}"
        )
    print()
    print("events/s: over the whole phase, group join and shutdown included.")
    print("steady/s: from the first record read to the last one decoded (baseline)")
    print("  or the last batch settled (service); in-process rows: as events/s.")
    print("ratio: over the baseline's rate of the same kind.")
    print("RSS+ (MiB): growth of the getrusage peak, which only ever rises;")
    print("  sampled+: highest RSS sampled in the phase over the RSS at its start;")
    print("  decode and mapping run interleaved and share one phase's figures.")
    print()
    service_s = service.get("span") or service["seconds"]
    print(
        f"service/baseline: {_rate(service) / base_rate:.2f}x overall, "
        f"{_rate(service, span=True) / base_steady:.2f}x steady"
    )
    print(
        f"of the service's steady {service_s:.2f} s, decode needs "
        f"{decoding['seconds'] / service_s:.0%} and mapping "
        f"{mapping['seconds'] / service_s:.0%} (in-process timings)"
    )
    print(
        f"CPU during the service phase: service process {service['cpu_seconds']:.1f} s"
        f", sandbox {service['sandbox_cpu_seconds']:.1f} s, over "
        f"{service['seconds']:.1f} s of wall time (sandbox JSON Schema check "
        f"{'on' if results['validate'] else 'off'})"
    )
    print(
        f"garbage collector during the service phase: {service['gc_seconds']:.2f} s,"
        f" {service['gc_full']} full collections"
    )
    accepted = sum(
        c.get("accepted_events", 0) for c in results["sandbox_counts"].values()
    )
    print(
        f"service outcome: sent {service['sent']:,}, skipped {service['skipped']:,}, "
        f"rejected {service['rejected']:,}, "
        f"dead-lettered {service['dead_lettered']:,}, "
        f"undecodable {service['undecodable']}"
    )
    print(
        f"committed offsets sum to {service['committed']:,} of {args.events:,}; "
        f"sandbox accepted {accepted:,}; mapping-only sends {mapping['sent']:,}"
    )
    if service["stopped_by_limit"]:
        print(f"WARNING: the service was stopped after {_PHASE_LIMIT_S:.0f} s")
    if baseline["events"] != args.events:
        print(f"WARNING: the baseline read {baseline['events']:,} events only")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=50_000, help="N (50000)")
    parser.add_argument("--destinations", type=int, default=2, help="K (2)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="let the sandbox check every body against its JSON Schema (slow)",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.destinations < 1:
        parser.error("--events and --destinations must be at least 1")

    common.quiet_logs()
    dests = common.destinations(args.destinations)
    print("starting Kafka and the sandbox ...", flush=True)
    with (
        LocalKafka() as kafka,
        common.SandboxProcess(dests, validate=args.validate) as sandbox,
    ):
        topic = common.unique_topic("bench-throughput")
        raw = common.raw_config(kafka.bootstrap_servers, topic, sandbox.url, dests)
        print(f"producing {args.events:,} events ...", flush=True)
        produce_s = common.produce_in_child(raw, args.events, args.seed)
        print("baseline ...", flush=True)
        baseline = run_baseline(
            common.raw_config(kafka.bootstrap_servers, topic, sandbox.url, dests),
            args.events,
        )
        print("service ...", flush=True)
        service = run_service(raw, sandbox)
        print("decode and mapping in-process ...", flush=True)
        decoding, mapping = run_in_process(args.events, args.seed, dests)
    results = {
        "produce_s": produce_s,
        "baseline": baseline,
        "service": service,
        "decoding": decoding,
        "mapping": mapping,
        "sandbox_counts": sandbox.counts,
        "validate": args.validate,
    }
    report(args, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
