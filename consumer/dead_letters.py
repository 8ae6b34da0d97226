"""Dead letters: what could not be delivered, kept whole with the reason.

A dead letter is the original record's key and value bytes, produced to the
dead-letter topic with headers saying what went wrong: the stage (decode, map
or deliver), the reason, the destination and Pinterest's message when there is
one, where the record came from, and how many attempts were made. A record is
settled as a dead letter only once the broker confirms the write, so nothing is
committed past a dead letter that was never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from consumer import logs
from consumer.config import Config
from consumer.kafka_admin import end_offsets, ensure_topic

PREFIX = "dead_letter."
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
    letter: DeadLetter, record: Message
) -> list[tuple[str, str | bytes | None]]:
    """Kafka headers describing a dead letter and the record it came from.

    A dead letter that fails again on redrive keeps its original topic,
    partition, offset and timestamp, and its attempts add up.
    """
    _, timestamp = record.timestamp()
    origin = read_headers(record)
    attempts = origin.get("attempts", "")
    earlier = int(attempts) if attempts.isdigit() else 0
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


class DeadLetterWriter:
    """Produces dead letters and reports each confirmed (or failed) write."""

    def __init__(self, config: Config) -> None:
        kafka = config.kafka
        self.topic = kafka.dead_letter_topic
        # As many partitions as the events topic, so dead letters spread alike.
        partitions = len(end_offsets(kafka.bootstrap_servers, kafka.topic)) or 1
        ensure_topic(
            kafka.bootstrap_servers, self.topic, partitions, extra=kafka.producer
        )
        self._producer = Producer(
            {
                "bootstrap.servers": kafka.bootstrap_servers,
                "logger": logs.KAFKA_LOGGER,
                # A dead letter must be stored once and durably before its
                # record is committed.
                "acks": "all",
                "enable.idempotence": True,
                **kafka.producer,
            }
        )

    def write(
        self,
        record: Message,
        letter: DeadLetter,
        done: Callable[[KafkaError | None], None],
    ) -> None:
        """Produce it; ``done`` runs in ``poll`` once the broker confirms or fails."""
        self._producer.produce(
            self.topic,
            key=record.key(),
            value=record.value(),
            headers=headers_of(letter, record),
            on_delivery=lambda error, _message: done(error),
        )

    def poll(self) -> None:
        """Serve delivery reports without waiting."""
        self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding writes; return how many are still unconfirmed."""
        return int(self._producer.flush(timeout))


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
