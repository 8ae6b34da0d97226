"""Small Kafka administration helpers (topics, offsets, groups) over confluent-kafka.

Shared by the CLI, the service's start-up checks and the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from consumer.logs import KAFKA_LOGGER

# One admin round trip against a healthy broker takes milliseconds; ten seconds
# leaves room for a coordinator that is still loading after a restart.
DEFAULT_TIMEOUT_S = 10.0
# Leaders and coordinators settle within a second or so; re-ask ten times a second.
_RETRY_S = 0.1

# Answers that only mean "not yet": a new topic's leader or a new broker's group
# coordinator is still loading. Reads are retried on these until their timeout.
_NOT_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}
_T = TypeVar("_T")


class KafkaAdminError(RuntimeError):
    """A Kafka administration request failed; the message names what was asked."""


def _config(bootstrap: str, extra: dict[str, str] | None) -> dict[str, Any]:
    # librdkafka's own lines ("connection refused" while a broker boots) go through
    # the service's logging, with its scrubbing, instead of straight to stderr.
    return {"bootstrap.servers": bootstrap, "logger": KAFKA_LOGGER, **(extra or {})}


def _admin(bootstrap: str, extra: dict[str, str] | None) -> AdminClient:
    return AdminClient(_config(bootstrap, extra))


def _consumer(bootstrap: str, group_id: str, extra: dict[str, str] | None) -> Consumer:
    config = _config(bootstrap, extra)
    return Consumer({**config, "group.id": group_id, "enable.auto.commit": False})


def _retry(call: Callable[[], _T], timeout: float) -> _T:
    """Run ``call``, repeating it while the cluster answers "not yet" (_NOT_YET)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_YET or time.monotonic() > deadline:
                raise
            time.sleep(_RETRY_S)


def _partitions(
    client: AdminClient | Consumer, bootstrap: str, topic: str, timeout: float
) -> list[int]:
    try:
        meta = client.list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(
            f"no metadata for topic {topic!r} from {bootstrap}: {exc}"
        ) from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        reason = info.error if info is not None else "not in metadata"
        raise KafkaAdminError(
            f"topic {topic!r} is not available on {bootstrap}: {reason}"
        )
    return sorted(info.partitions)


def wait_for_broker(
    bootstrap: str, timeout: float, *, extra: dict[str, str] | None = None
) -> None:
    """Return once a broker at ``bootstrap`` answers a metadata request."""
    admin = _admin(bootstrap, extra)
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(
            f"no Kafka broker answered at {bootstrap} within {timeout:g}s: {exc}"
        ) from exc
    if not meta.brokers:
        raise KafkaAdminError(f"Kafka at {bootstrap} answered but lists no brokers")


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 3,
    config: dict[str, str] | None = None,
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> bool:
    """Create ``topic`` unless it exists; True if this call created it.

    An existing topic is left as it is, even with a different partition count. After
    creating, waits until every partition has a leader so producers can use it at once.
    """
    admin = _admin(bootstrap, extra)
    # replication_factor=-1 takes the broker's default (1 locally, 3 in production).
    new = NewTopic(topic, num_partitions=partitions, config=config or {})
    future = admin.create_topics([new], operation_timeout=timeout)[topic]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise KafkaAdminError(
            f"creating topic {topic!r} on {bootstrap} failed: {exc}"
        ) from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
        parts = [] if info is None or info.error else info.partitions.values()
        if len(parts) == partitions and all(p.leader >= 0 for p in parts):
            return True
        time.sleep(_RETRY_S)
    raise KafkaAdminError(
        f"topic {topic!r} on {bootstrap} has no leaders after {timeout:g}s"
    )


def end_offsets(
    bootstrap: str,
    topic: str,
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[int, int]:
    """High watermark (offset of the next record) of each partition of ``topic``."""
    # Watermarks come from a plain consumer; it never subscribes, so the throw-away
    # group id below is never created on the broker.
    consumer = _consumer(bootstrap, "converge-pinterest-watermarks", extra)
    result: dict[int, int] = {}
    try:
        for p in _partitions(consumer, bootstrap, topic, timeout):
            ask = partial(consumer.get_watermark_offsets, TopicPartition(topic, p))
            result[p] = _retry(partial(ask, timeout=timeout), timeout)[1]
    except KafkaException as exc:
        raise KafkaAdminError(
            f"end offsets of topic {topic!r} on {bootstrap} failed: {exc}"
        ) from exc
    finally:
        consumer.close()
    return result


def committed_offsets(
    bootstrap: str,
    group_id: str,
    topic: str,
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[int, int | None]:
    """Offsets ``group_id`` committed per partition of ``topic`` (None: no commit)."""
    # A consumer that never subscribes reads the group's commits without joining.
    # (AdminClient.list_consumer_group_offsets crashes the interpreter with
    # confluent-kafka 2.16 when the broker has no offsets topic yet.)
    consumer = _consumer(bootstrap, group_id, extra)
    try:
        wanted = [
            TopicPartition(topic, p)
            for p in _partitions(consumer, bootstrap, topic, timeout)
        ]
        answer = _retry(lambda: consumer.committed(wanted, timeout=timeout), timeout)
    except KafkaException as exc:
        raise KafkaAdminError(
            f"committed offsets of group {group_id!r} on topic {topic!r} "
            f"from {bootstrap} failed: {exc}"
        ) from exc
    finally:
        consumer.close()
    return {
        tp.partition: None if tp.offset == OFFSET_INVALID else tp.offset
        for tp in answer
    }


def group_is_active(
    bootstrap: str,
    group_id: str,
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> bool:
    """True if consumer group ``group_id`` currently has members."""
    admin = _admin(bootstrap, extra)
    try:
        # Listing needs no group coordinator, so an unknown group (or a broker that
        # has no offsets topic yet) answers at once instead of timing out below.
        listing = admin.list_consumer_groups(request_timeout=timeout)
        if group_id not in {g.group_id for g in listing.result(timeout=timeout).valid}:
            return False
        described = admin.describe_consumer_groups([group_id], request_timeout=timeout)
        return bool(described[group_id].result(timeout=timeout).members)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
            return False
        raise KafkaAdminError(
            f"describing group {group_id!r} on {bootstrap} failed: {exc}"
        ) from exc


def set_committed_offsets(
    bootstrap: str,
    group_id: str,
    topic: str,
    offsets: dict[int, int],
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Commit ``offsets`` (partition: offset) of ``topic`` for group ``group_id``.

    The group must have no active members, or the broker refuses.
    """
    request = ConsumerGroupTopicPartitions(
        group_id, [TopicPartition(topic, p, o) for p, o in offsets.items()]
    )
    admin = _admin(bootstrap, extra)
    try:
        futures = admin.alter_consumer_group_offsets([request], request_timeout=timeout)
        for future in futures.values():
            for tp in future.result().topic_partitions:
                if tp.error is not None:
                    raise KafkaAdminError(
                        f"committing {topic}[{tp.partition}] for group "
                        f"{group_id!r} failed: {tp.error.str()}"
                    )
    except KafkaException as exc:
        raise KafkaAdminError(
            f"committing offsets of {topic!r} for group {group_id!r} on "
            f"{bootstrap} failed: {exc}"
        ) from exc


def delete_group(
    bootstrap: str,
    group_id: str,
    *,
    extra: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Delete consumer group ``group_id`` (it must have no members)."""
    admin = _admin(bootstrap, extra)
    try:
        for future in admin.delete_consumer_groups(
            [group_id], request_timeout=timeout
        ).values():
            future.result()
    except KafkaException as exc:
        raise KafkaAdminError(
            f"deleting group {group_id!r} on {bootstrap} failed: {exc}"
        ) from exc
