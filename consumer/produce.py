"""The ``produce`` command: JSON envelope lines (or generated events) into the topic.

Each valid line is encoded as schemaless Avro and produced with the person's
key, the SHA-256 of the event's first alias, so one person's events land on one
partition and keep their order without putting an identifier in clear text in
the key. Invalid lines are reported with their line number and not produced.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka import KafkaError, Message, Producer

from consumer import codec, envelope, logs
from consumer.config import Config
from consumer.generate import generate
from consumer.kafka_admin import ensure_topic

# Producer flush at the end waits this long for the broker's acknowledgements.
_FLUSH_TIMEOUT_S = 60.0


@dataclass
class ProduceReport:
    """How many events went to the topic and which lines were refused."""

    produced: int = 0
    invalid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def producer_settings(config: Config) -> dict[str, Any]:
    """librdkafka settings of the producer: safe defaults, then the file's."""
    return {
        "bootstrap.servers": config.kafka.bootstrap_servers,
        "logger": logs.KAFKA_LOGGER,
        # Every write is acknowledged by all in-sync replicas and never doubled
        # by a producer retry.
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 20,
        **config.kafka.producer,
    }


def person_key(event: codec.ConvergeEvent) -> bytes:
    """The partition key: one person's events share it."""
    identity = event["aliases"][0] if event["aliases"] else event["event_id"]
    if not identity:
        identity = event["profile_properties"].get("email") or event["event_name"]
    return hashlib.sha256(identity.encode()).hexdigest()[:32].encode()


def read_lines(inputs: Iterable[str], stdin: TextIO) -> Iterator[tuple[str, int, str]]:
    """Yield (source name, line number, text) of every non-blank input line."""
    for name in inputs or ["-"]:
        if name == "-":
            yield from _numbered("<stdin>", stdin)
            continue
        with Path(name).open(encoding="utf-8") as handle:
            yield from _numbered(name, handle)


def _numbered(label: str, handle: TextIO) -> Iterator[tuple[str, int, str]]:
    for number, line in enumerate(handle, 1):
        if line.strip():
            yield label, number, line


def produce(
    config: Config,
    inputs: list[str],
    *,
    generate_count: int | None = None,
    seed: int = 1,
    partitions: int = 3,
    stdin: TextIO = sys.stdin,
) -> ProduceReport:
    """Produce the given lines (or generated events) and report what happened."""
    report = ProduceReport()
    ensure_topic(
        config.kafka.bootstrap_servers,
        config.kafka.topic,
        partitions,
        extra=config.kafka.producer,
    )
    producer = Producer(producer_settings(config))

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is None:
            report.produced += 1
        else:
            report.failed.append(f"offset unknown: {error.str()}")

    try:
        for event in _events(inputs, generate_count, seed, stdin, report):
            producer.produce(
                config.kafka.topic,
                key=person_key(event),
                value=codec.encode(event),
                on_delivery=delivered,
            )
            producer.poll(0)
    finally:
        # What was handed to the producer goes out even if a later line fails.
        left = producer.flush(_FLUSH_TIMEOUT_S)
    if left:
        report.failed.append(f"{left} events not acknowledged by the broker in time")
    return report


def _events(
    inputs: list[str],
    generate_count: int | None,
    seed: int,
    stdin: TextIO,
    report: ProduceReport,
) -> Iterator[codec.ConvergeEvent]:
    if generate_count is not None:
        for raw in generate(generate_count, seed):
            yield envelope.from_envelope(raw)
        return
    for label, number, line in read_lines(inputs, stdin):
        try:
            yield envelope.parse_line(line)
        except envelope.EnvelopeError as exc:
            report.invalid.append(f"{label}:{number}: {exc}")
