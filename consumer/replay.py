"""The ``replay`` command: reset the group's committed offsets to read events again.

Without ``execute`` it only computes the plan (partition, current, new). With
it, it refuses while the group has active members, because a running member
would overwrite the reset with its own commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import Consumer, TopicPartition

from consumer import logs
from consumer.config import Config
from consumer.kafka_admin import (
    KafkaAdminError,
    committed_offsets,
    group_is_active,
    set_committed_offsets,
)

# Broker round trips for metadata and offsets; generous for a loaded cluster.
_TIMEOUT_S = 15.0


class ReplayError(RuntimeError):
    """The reset cannot be planned or carried out; the message says why."""


@dataclass(frozen=True)
class Move:
    """One partition's committed offset now and after the reset."""

    partition: int
    current: int | None
    new: int


@dataclass(frozen=True)
class Target:
    """Where to move: exactly one of the fields is set."""

    to_earliest: bool = False
    to_datetime: datetime | None = None
    to_offset: int | None = None
    shift_by: int | None = None


def plan(config: Config, target: Target) -> list[Move]:
    """Compute the new committed offset of every partition of the topic."""
    kafka = config.kafka
    current = committed_offsets(
        kafka.bootstrap_servers, kafka.group_id, kafka.topic, extra=kafka.consumer
    )
    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": kafka.group_id,
            "logger": logs.KAFKA_LOGGER,
            **kafka.consumer,
        }
    )
    try:
        moves = []
        for partition in sorted(current):
            where = TopicPartition(kafka.topic, partition)
            low, high = reader.get_watermark_offsets(where, timeout=_TIMEOUT_S)
            new = _new_offset(reader, where, current[partition], (low, high), target)
            moves.append(Move(partition, current[partition], min(max(new, low), high)))
        return moves
    finally:
        reader.close()


def _new_offset(
    reader: Consumer,
    where: TopicPartition,
    current: int | None,
    bounds: tuple[int, int],
    target: Target,
) -> int:
    low, high = bounds
    if target.to_earliest:
        return low
    if target.to_offset is not None:
        return target.to_offset
    if target.shift_by is not None:
        return (low if current is None else current) + target.shift_by
    if target.to_datetime is not None:
        millis = int(target.to_datetime.timestamp() * 1000)
        [found] = reader.offsets_for_times(
            [TopicPartition(where.topic, where.partition, millis)], timeout=_TIMEOUT_S
        )
        # -1 means no record at or after that time: start at the end.
        return high if found.offset < 0 else int(found.offset)
    raise ReplayError(
        "say where to: --to-earliest, --to-datetime, --to-offset or --shift-by"
    )


def execute(config: Config, moves: list[Move]) -> None:
    """Commit the planned offsets for the group, unless it has active members."""
    kafka = config.kafka
    if group_is_active(kafka.bootstrap_servers, kafka.group_id, extra=kafka.consumer):
        raise ReplayError(
            f"group {kafka.group_id!r} has active members; stop every "
            "'converge-pinterest run' of this group first, then reset"
        )
    try:
        set_committed_offsets(
            kafka.bootstrap_servers,
            kafka.group_id,
            kafka.topic,
            {m.partition: m.new for m in moves},
            extra=kafka.consumer,
            timeout=_TIMEOUT_S,
        )
    except KafkaAdminError as exc:
        raise ReplayError(str(exc)) from exc
