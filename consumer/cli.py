"""The ``converge-pinterest`` command line: thin wrappers over the package's modules.

Exit status: 0 success, 1 the work ran but some input was refused or some
events were not delivered, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import time
from datetime import datetime
from types import FrameType

from confluent_kafka import KafkaError, KafkaException

from consumer import codec, config, envelope, logs
from consumer.dead_letters import list_dead_letters
from consumer.demo import run_demo
from consumer.kafka_admin import KafkaAdminError
from consumer.local_kafka import LocalKafkaError, fetch_kafka, run_local_kafka
from consumer.mapping import map_event
from consumer.produce import produce, read_lines
from consumer.redrive import redrive
from consumer.replay import ReplayError, Target, execute, plan
from consumer.sandbox import run_sandbox
from consumer.service import Service

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run one command."""
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure(level=args.log_level)
    try:
        return int(args.command(args))
    except config.ConfigError as exc:
        return _fail(f"configuration error: {exc}", EXIT_CONFIG)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError._INVALID_ARG:
            # librdkafka refuses a setting from [kafka.consumer]/[kafka.producer].
            return _fail(
                f"configuration error: {error.str()} (a librdkafka setting "
                "under [kafka.consumer] or [kafka.producer])",
                EXIT_CONFIG,
            )
        return _fail(f"Kafka: {exc}", EXIT_PARTIAL)
    except KafkaAdminError as exc:
        return _fail(f"Kafka: {exc}", EXIT_PARTIAL)
    except TimeoutError:
        return _fail("Kafka did not answer in time; is the broker reachable?", 1)
    except (LocalKafkaError, ReplayError) as exc:
        return _fail(str(exc), EXIT_PARTIAL)
    except OSError as exc:
        # Input files that are missing, ports that are taken, and the like.
        name = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{name}{exc.strerror or exc}", EXIT_CONFIG)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, status: int) -> int:
    print(f"converge-pinterest: {message}", file=sys.stderr)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="converge-pinterest",
        description="Deliver Converge events from Kafka to Pinterest's Conversions API",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning"]
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the long-lived delivery service")
    _config_option(run)
    run.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="stop once every partition is delivered and committed up to its end",
    )
    run.set_defaults(command=_run)

    produce = commands.add_parser("produce", help="JSON envelope lines into the topic")
    _config_option(produce)
    produce.add_argument(
        "inputs", nargs="*", help="files of JSON lines (default stdin)"
    )
    produce.add_argument(
        "--generate", type=int, metavar="N", help="produce N made-up events"
    )
    produce.add_argument("--seed", type=int, default=1, help="seed of --generate")
    produce.add_argument(
        "--partitions", type=int, default=3, help="partitions if the topic is created"
    )
    produce.set_defaults(command=_produce)

    mapping = commands.add_parser("map", help="show what each destination would get")
    _config_option(mapping)
    mapping.add_argument(
        "inputs", nargs="*", help="files of JSON lines (default stdin)"
    )
    mapping.set_defaults(command=_map)

    replay = commands.add_parser("replay", help="reset the group's committed offsets")
    _config_option(replay)
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--to-earliest", action="store_true", help="the oldest records still kept"
    )
    where.add_argument(
        "--to-datetime",
        type=_datetime,
        metavar="ISO",
        help="the first record at or after this time, e.g. 2026-12-01T00:00:00Z",
    )
    where.add_argument(
        "--to-offset", type=int, metavar="N", help="offset N in every partition"
    )
    where.add_argument(
        "--shift-by",
        type=int,
        metavar="N",
        help="N records from the committed offset (negative: back)",
    )
    replay.add_argument(
        "--execute",
        action="store_true",
        help="carry the plan out (default: only show it)",
    )
    replay.set_defaults(command=_replay)

    redrive = commands.add_parser("redrive", help="deliver dead letters again")
    _config_option(redrive)
    redrive.add_argument("--destination", required=True, help="whose dead letters")
    redrive.add_argument(
        "--reason", help="only dead letters whose reason or message contains this"
    )
    redrive.set_defaults(command=_redrive)

    letters = commands.add_parser(
        "dead-letters", help="list dead letters (headers only) as JSON lines"
    )
    _config_option(letters)
    letters.add_argument("--destination", help="only this destination's")
    letters.set_defaults(command=_dead_letters)

    sandbox = commands.add_parser("sandbox", help="run the local Pinterest stand-in")
    sandbox.add_argument(
        "--port", type=int, default=8080, help="port to serve on (default 8080)"
    )
    sandbox.add_argument(
        "--host",
        default="127.0.0.1",
        help="IPv4 loopback address to bind (default 127.0.0.1); the sandbox is "
        "for tests on this machine and refuses other addresses",
    )
    sandbox.add_argument(
        "--config", help="register every destination's ad account and token from it"
    )
    sandbox.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID=TOKEN",
        help="register an ad account and its token (repeatable)",
    )
    sandbox.set_defaults(command=_sandbox)

    kafka = commands.add_parser("kafka", help="run a local single-node Kafka broker")
    kafka.add_argument(
        "--port", type=int, default=9092, help="client port (default 9092)"
    )
    kafka.add_argument("--controller-port", type=int, default=0)
    kafka.add_argument("--heap", default="512m", help="JVM heap, such as 512m")
    kafka.add_argument(
        "--fetch-only", action="store_true", help="only download the broker's jars"
    )
    kafka.set_defaults(command=_kafka)

    demo = commands.add_parser("demo", help="broker, sandbox, sample events, delivery")
    demo.set_defaults(command=_demo)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the TOML configuration file")


def _datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date and time, such as 2026-12-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, such as Z")
    return moment


def _load(path: str) -> config.Config:
    loaded = config.load(path)
    logs.register_secrets(d.access_token for d in loaded.destinations)
    return loaded


def _run(args: argparse.Namespace) -> int:
    service = Service(_load(args.config), exit_when_idle=args.exit_when_idle)
    signals = 0

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            # A second signal means now: what was not committed is read again.
            print("converge-pinterest: stopping at once", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        print("converge-pinterest: finishing in-flight batches", file=sys.stderr)
        service.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stats = service.run()
    print(stats.summary(), file=sys.stderr)
    return EXIT_OK


def _produce(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    report = produce(
        loaded,
        args.inputs,
        generate_count=args.generate,
        seed=args.seed,
        partitions=args.partitions,
    )
    for problem in report.invalid:
        # A value in the wrong field can be an email: never echo one raw.
        print(f"not produced: {logs.redact(problem)}", file=sys.stderr)
    for problem in report.failed:
        print(f"produce failed: {problem}", file=sys.stderr)
    print(
        f"produced {report.produced} events to {loaded.kafka.topic}"
        + (f", {len(report.invalid)} lines refused" if report.invalid else ""),
        file=sys.stderr,
    )
    return EXIT_PARTIAL if report.invalid or report.failed else EXIT_OK


def _map(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    malformed = 0
    now = time.time()
    for label, number, line in read_lines(args.inputs, sys.stdin):
        try:
            # Through Avro and back, so this shows exactly what the service sees.
            event = codec.decode(codec.encode(envelope.parse_line(line)))
        except envelope.EnvelopeError as exc:
            malformed += 1
            print(f"{label}:{number}: {logs.redact(str(exc))}", file=sys.stderr)
            continue
        for destination in loaded.destinations:
            outcome = map_event(event, destination, now)
            row: dict[str, object] = {
                "destination": destination.name,
                "event_id": outcome.event_id,
                "outcome": outcome.kind,
            }
            if outcome.kind == "send":
                row["event"] = outcome.event
            else:
                row["reason"] = outcome.reason
            print(json.dumps(row, ensure_ascii=False))
    return EXIT_PARTIAL if malformed else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    target = Target(
        to_earliest=args.to_earliest,
        to_datetime=args.to_datetime,
        to_offset=args.to_offset,
        shift_by=args.shift_by,
    )
    try:
        moves = plan(loaded, target)
        print(f"group {loaded.kafka.group_id}, topic {loaded.kafka.topic}")
        print(f"{'partition':>9}  {'current':>10}  {'new':>10}")
        for move in moves:
            current = "-" if move.current is None else str(move.current)
            print(f"{move.partition:>9}  {current:>10}  {move.new:>10}")
        if not args.execute:
            print("plan only: add --execute to reset the offsets")
            return EXIT_OK
        execute(loaded, moves)
    except ReplayError as exc:
        return _fail(f"replay refused: {exc}", EXIT_PARTIAL)
    print("offsets reset; the next 'run' of this group reads from there")
    return EXIT_OK


def _redrive(args: argparse.Namespace) -> int:
    stats = redrive(_load(args.config), args.destination, args.reason)
    print(stats.summary(), file=sys.stderr)
    return EXIT_OK


def _dead_letters(args: argparse.Namespace) -> int:
    for headers in list_dead_letters(_load(args.config), args.destination):
        print(json.dumps(headers, ensure_ascii=False))
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    if not _is_loopback(args.host):
        return _fail(
            f"--host {args.host}: the sandbox binds IPv4 loopback addresses only "
            "(127.0.0.1 and the like)",
            EXIT_CONFIG,
        )
    accounts: dict[str, str] = {}
    if args.config:
        for destination in _load(args.config).destinations:
            accounts[destination.ad_account_id] = destination.access_token
    for pair in args.account:
        ad_account_id, _, token = pair.partition("=")
        if not ad_account_id.isdigit() or not token:
            print(f"--account {pair!r}: use ID=TOKEN, ID digits", file=sys.stderr)
            return EXIT_CONFIG
        accounts[ad_account_id] = token
    return run_sandbox(args.host, args.port, accounts)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        # IPv4 only: the sandbox's server binds an IPv4 socket.
        address = ipaddress.ip_address(host)
        return address.version == 4 and address.is_loopback
    except ValueError:
        return False


def _kafka(args: argparse.Namespace) -> int:
    try:
        if args.fetch_only:
            print(f"Kafka jars in {fetch_kafka()}")
            return EXIT_OK
        return run_local_kafka(args.port, args.controller_port, args.heap)
    except LocalKafkaError as exc:
        print(f"converge-pinterest: local Kafka: {exc}", file=sys.stderr)
        return EXIT_PARTIAL


def _demo(_args: argparse.Namespace) -> int:
    return run_demo()
