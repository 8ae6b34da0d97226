"""Dead letters: what could not be delivered, kept whole with the reason.

A dead letter is the original record's key and value bytes, produced to the
dead-letter topic with headers saying what went wrong: the stage (decode, map
or deliver), the reason, the destination and Pinterest's message when there is
one, where the record came from, and how many attempts were made. A record is
settled as a dead letter only once the broker confirms the write, so nothing is
committed past a dead letter that was never stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from consumer import logs
from consumer.config import Config
from consumer.kafka_admin import end_offsets, ensure_topic
from consumer.produce import producer_settings

log = structlog.get_logger("consumer.dead_letters")

PREFIX = "dead_letter."
# The code for a message over the size limit, from the client or the broker.
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE})
# A failed dead-letter write is tried again this often: often enough to catch
# the end of an outage soon, rarely enough not to flood the log.
_RETRY_S = 5.0
# How long listing waits for the next record before taking the topic as read.
_LIST_POLL_S = 10.0
STAGES = ("decode", "map", "deliver")


@dataclass(frozen=True)
class DeadLetter:
    """Why one record (or one destination's piece of it) could not be delivered."""

    stage: str
    reason: str
    destination: str | None = None
    pinterest_message: str | None = None
    attempts: int = 0
    event_id: str | None = None


def headers_of(
    letter: DeadLetter, record: Message, dead_letter_topic: str | None = None
) -> list[tuple[str, str | bytes | None]]:
    """Kafka headers describing a dead letter and the record it came from.

    A dead letter that fails again on redrive keeps its original topic,
    partition, offset and timestamp, and its attempts add up.
    """
    _, timestamp = record.timestamp()
    # Only a dead letter's own headers are trusted: any other record could
    # carry headers with these names.
    redriven = dead_letter_topic is not None and record.topic() == dead_letter_topic
    origin = read_headers(record) if redriven else {}
    attempts = origin.get("attempts", "")
    earlier = int(attempts) if attempts.isascii() and attempts.isdigit() else 0
    fields = {
        "stage": letter.stage,
        "reason": letter.reason,
        "destination": letter.destination,
        "pinterest_message": letter.pinterest_message,
        "event_id": letter.event_id,
        "attempts": str(earlier + letter.attempts),
        "topic": origin.get("topic", record.topic()),
        "partition": origin.get("partition", str(record.partition())),
        "offset": origin.get("offset", str(record.offset())),
        "timestamp": origin.get("timestamp", str(timestamp)),
    }
    return [(PREFIX + k, v.encode()) for k, v in fields.items() if v is not None]


def read_headers(record: Message) -> dict[str, str]:
    """The dead-letter headers of a record, without the prefix."""
    found = {}
    headers = record.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, value in pairs:
        if not key.startswith(PREFIX) or value is None:
            continue
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        found[key[len(PREFIX) :]] = text
    return found


@dataclass
class _Pending:
    """A dead letter on its way, retried until the broker confirms it."""

    record: Message
    letter: DeadLetter
    done: Callable[[], None]
    omit_value: bool = False


class DeadLetterWriter:
    """Produces dead letters and reports each one once the broker confirms it.

    A write that fails is tried again every few seconds for as long as the
    service runs, so a passing outage delays commits instead of stalling them
    for good. A value too large for the dead-letter topic is left out, and a
    header says where the original record still is.
    """

    def __init__(self, config: Config) -> None:
        kafka = config.kafka
        self.topic = kafka.dead_letter_topic
        # As many partitions as the events topic, so dead letters spread alike.
        partitions = len(end_offsets(kafka.bootstrap_servers, kafka.topic)) or 1
        ensure_topic(
            kafka.bootstrap_servers, self.topic, partitions, extra=kafka.producer
        )
        # acks=all and idempotence: a dead letter is stored once and durably
        # before its record is committed.
        self._producer = Producer(producer_settings(config))
        self._retries: list[tuple[float, _Pending]] = []

    def write(
        self, record: Message, letter: DeadLetter, done: Callable[[], None]
    ) -> None:
        """Produce it; ``done`` runs in ``poll`` once the broker has it."""
        self._produce(_Pending(record, letter, done))

    def _produce(self, pending: _Pending) -> None:
        record = pending.record
        headers = headers_of(pending.letter, record, self.topic)
        if pending.omit_value:
            size = len(record.value() or b"")
            headers.append(
                (f"{PREFIX}value_omitted", f"{size} bytes, too large here".encode())
            )
        try:
            self._producer.produce(
                self.topic,
                key=record.key(),
                value=None if pending.omit_value else record.value(),
                headers=headers,
                on_delivery=lambda error, _m: self._answered(pending, error),
            )
        except BufferError:
            self._retry_later(pending, "the producer's local queue is full")
        except KafkaException as exc:
            self._answered(pending, exc.args[0] if exc.args else None, str(exc))

    def _answered(
        self, pending: _Pending, error: KafkaError | None, text: str = ""
    ) -> None:
        if error is None and not text:
            pending.done()
            return
        too_large = isinstance(error, KafkaError) and error.code() in _TOO_LARGE
        if too_large and not pending.omit_value:
            pending.omit_value = True
            self._produce(pending)
            return
        self._retry_later(pending, error.str() if error is not None else text)

    def _retry_later(self, pending: _Pending, why: str) -> None:
        log.error(
            "dead letter not written yet; trying again",
            error=why,
            retry_in_s=_RETRY_S,
            topic=pending.record.topic(),
            partition=pending.record.partition(),
            offset=pending.record.offset(),
        )
        self._retries.append((time.monotonic() + _RETRY_S, pending))

    def poll(self) -> None:
        """Serve delivery reports and retries without waiting."""
        self._producer.poll(0)
        if not self._retries:
            return
        now = time.monotonic()
        due = [p for at, p in self._retries if at <= now]
        self._retries = [(at, p) for at, p in self._retries if at > now]
        for pending in due:
            self._produce(pending)


def list_dead_letters(
    config: Config, destination: str | None = None
) -> Iterator[dict[str, str]]:
    """Every dead letter's headers, oldest first per partition, without the value.

    Reads the topic up to where it ended when called, without a consumer group,
    so listing commits nothing. The value (the whole event, with personal data)
    is left out; ``kafka.dead_letter_topic`` holds it for redrive.
    """
    kafka = config.kafka
    ends = end_offsets(
        kafka.bootstrap_servers, kafka.dead_letter_topic, extra=kafka.consumer
    )
    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"{kafka.group_id}.dead-letter-listing",
            "enable.auto.commit": False,
            "logger": logs.KAFKA_LOGGER,
            **kafka.consumer,
        }
    )
    try:
        reader.assign(
            [TopicPartition(kafka.dead_letter_topic, p, 0) for p, end in ends.items()]
        )
        left = sum(ends.values())
        while left > 0:
            record = reader.poll(_LIST_POLL_S)
            if record is None:
                return  # the rest was deleted by retention meanwhile
            if record.error() is not None:
                continue
            left -= 1
            headers = read_headers(record)
            if destination is None or headers.get("destination") == destination:
                yield {
                    "dead_letter_partition": str(record.partition()),
                    "dead_letter_offset": str(record.offset()),
                    **headers,
                }
    finally:
        reader.close()
