"""The long-lived service loop: poll, decode, route and map, batch, deliver, commit.

One thread owns the Kafka consumer and never waits on HTTP: batches go to the
Deliverer's event loop and come back as Completions on a queue that this loop
drains between polls. A record settles when every piece derived from it is
accepted, dead-lettered with a confirmed write, rejected or skipped; offsets
are committed per partition only up to the contiguous watermark of settled
records (see ``watermarks``).
"""

from __future__ import annotations

import queue
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from consumer import codec, logs
from consumer.batching import Batch, Batcher
from consumer.config import Config
from consumer.dead_letters import DeadLetter, DeadLetterWriter
from consumer.delivery import Completion, Deliverer, DestinationHealth
from consumer.health import HealthServer
from consumer.mapping import map_for_each
from consumer.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from consumer.metrics import Metrics
from consumer.run_stats import RunStats
from consumer.watermarks import PartitionKey, PieceRef, Watermarks

log = structlog.get_logger("consumer.service")

# How long one consume call may wait for records; short so that completions
# and lingering batches are handled promptly even on a quiet topic.
_POLL_TIMEOUT_S = 0.1
_POLL_BATCH = 500
# Share of max.poll.interval.ms a revoke may spend waiting for in-flight
# batches: the callback runs inside poll, and the rest of the interval is
# headroom so the group does not evict this member meanwhile.
_REVOKE_BUDGET_SHARE = 0.2
_DEFAULT_MAX_POLL_INTERVAL_MS = 300_000
# How often the idle check asks the broker for end offsets.
_IDLE_CHECK_INTERVAL_S = 0.5

# How often the health snapshot is refreshed; probes come every few seconds.
_SNAPSHOT_INTERVAL_S = 1.0

RecordFilter = Callable[[Message], bool]


def consumer_settings(config: Config) -> dict[str, Any]:
    """librdkafka settings of the service's consumer: defaults, then the file's."""
    settings: dict[str, Any] = {
        "bootstrap.servers": config.kafka.bootstrap_servers,
        "group.id": config.kafka.group_id,
        "logger": logs.KAFKA_LOGGER,
        # Offsets are committed by this loop, only up to settled records.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        # librdkafka prefetches up to 64 MiB per consumer by default, whatever
        # max_buffered_events says; 8 MiB keeps memory flat under a backlog and
        # still holds thousands of events between polls.
        "queued.max.messages.kbytes": 8192,
        **config.kafka.consumer,
    }
    if settings.get("group.protocol") == "consumer":
        # KIP-848: the broker assigns partitions; the client setting is refused.
        settings.pop("partition.assignment.strategy", None)
    return settings


class Service:
    """Runs the pipeline until asked to stop (or, if told to, until caught up).

    ``record_filter`` lets ``redrive`` pass over dead letters meant for other
    destinations; such records settle at once. ``stop_at`` (end offset per
    partition) leaves records from there on unread and uncommitted, so a
    redrive does not take the dead letters it writes itself.
    """

    def __init__(
        self,
        config: Config,
        *,
        exit_when_idle: bool = False,
        record_filter: RecordFilter | None = None,
        stop_at: dict[int, int] | None = None,
    ) -> None:
        self.config = config
        self.exit_when_idle = exit_when_idle
        self.stats = RunStats()
        self._record_filter = record_filter
        self._stop_at = stop_at
        self._settings = consumer_settings(config)
        self._completions: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self.metrics = Metrics()
        self._deliverer = Deliverer(
            config.pinterest, config.delivery, self._completions, self.metrics
        )
        self._watermarks = Watermarks()
        linger = config.delivery.linger_ms / 1000
        self._destinations = config.destinations
        self._batchers = [
            Batcher(d, config.delivery.batch_size, linger) for d in config.destinations
        ]
        # Pieces handed to HTTP or to the dead-letter producer, per partition.
        self._in_flight: Counter[PartitionKey] = Counter()
        # Events handed to HTTP and not answered yet, per destination.
        self._in_flight_by_destination: Counter[str] = Counter()
        self._dead_letters: DeadLetterWriter | None = None
        self._paused = False
        self._stop_requested = False
        self._closing = False
        self._next_commit = 0.0
        self._next_idle_check = 0.0
        self._next_snapshot = 0.0
        self._last_snapshot: dict[str, Any] = {"status": "starting"}

    @property
    def health(self) -> dict[str, DestinationHealth]:
        """Per destination: delivering fine, retrying, or credentials refused."""
        return dict(self._deliverer.health)

    @property
    def paused(self) -> bool:
        """Whether fetching is paused because too many events are buffered."""
        return self._paused

    def snapshot(self) -> dict[str, Any]:
        """What the health endpoint reports."""
        destinations = {
            d.name: dict(vars(self._deliverer.health.get(d.name, DestinationHealth())))
            for d in self.config.destinations
        }
        degraded = any(h["state"] != "ok" for h in destinations.values())
        return {
            "status": "degraded" if degraded else "ok",
            "destinations": destinations,
            "paused": self._paused,
            "buffered_events": self._buffered(),
            "unsettled_records": self._watermarks.unsettled,
            "partitions": [f"{t}[{p}]" for t, p in self._watermarks.owned()],
        }

    def request_stop(self) -> None:
        """Ask the loop to finish: flush, wait for in-flight batches, commit, close."""
        self._stop_requested = True

    def run(self) -> RunStats:
        """Run until stopped; return what happened."""
        self._dead_letters = DeadLetterWriter(self.config)
        consumer = Consumer({**self._settings, "on_commit": self._on_commit})
        consumer.subscribe(
            [self.config.kafka.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._deliverer.start()
        health = None
        if self.config.service.health_port:
            service = self.config.service
            # The endpoint serves the copy the poll loop refreshes, so its
            # thread never reads state while the loop changes it.
            health = HealthServer(
                service.health_host,
                service.health_port,
                lambda: self._last_snapshot,
                lambda: (self.metrics.render(), METRICS_CONTENT_TYPE),
            ).start()
        log.info(
            "service started",
            topic=self.config.kafka.topic,
            group=self.config.kafka.group_id,
            destinations=[d.name for d in self.config.destinations],
        )
        try:
            while not self._stop_requested:
                self._step(consumer)
                if self.exit_when_idle and self._idle(consumer):
                    break
            self._finish(consumer)
        finally:
            # _finish already waited for in-flight batches; the revoke that
            # close() runs must not wait again for batches that cannot finish.
            self._closing = True
            consumer.close()
            self._deliverer.stop()
            if health is not None:
                health.stop()
        log.info("service stopped", records=self.stats.records)
        return self.stats

    def _step(self, consumer: Consumer) -> None:
        messages = consumer.consume(_POLL_BATCH, _POLL_TIMEOUT_S)
        self.metrics.records.inc(len(messages))
        now = time.monotonic()
        wall = time.time()
        for message in messages:
            self._handle(message, now, wall)
        self._serve_completions()
        for batcher in self._batchers:
            if batch := batcher.due(now):
                self._submit(batch)
        self._apply_back_pressure(consumer)
        if now >= self._next_commit:
            self._commit(consumer, asynchronous=True)
            self._next_commit = now + self.config.delivery.commit_interval_ms / 1000
        if now >= self._next_snapshot:
            self._last_snapshot = self.snapshot()
            self.metrics.buffered_events.set(self._last_snapshot["buffered_events"])
            self.metrics.unsettled_records.set(self._last_snapshot["unsettled_records"])
            self.metrics.paused.set(1 if self._paused else 0)
            self._next_snapshot = now + _SNAPSHOT_INTERVAL_S

    def _handle(self, message: Message, now: float, wall: float) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", error=error.str())
            return
        topic, partition, offset = (
            message.topic(),
            message.partition(),
            message.offset(),
        )
        if topic is None or partition is None or offset is None:
            return  # only error events lack these, and those returned above
        tracker = self._watermarks.get((topic, partition))
        if tracker is None:
            return  # arrived after its partition was revoked; the new owner reads it
        if self._stop_at is not None and offset >= self._stop_at.get(partition, 0):
            return  # past the end this run was asked to read: left for later
        self.stats.records += 1
        ref = PieceRef((topic, partition), tracker.epoch, offset, message)

        if self._record_filter is not None and not self._record_filter(message):
            self.stats.passed_over += 1
            tracker.track(offset, 0)
            return
        try:
            event = codec.decode(message.value())
        except codec.DecodeError as exc:
            self.stats.undecodable += 1
            tracker.track(offset, 1)
            self._dead_letter(ref, DeadLetter("decode", str(exc)))
            return

        pieces, letters = self._route(event, ref, now, wall)
        # Batches and dead-letter writes hold references to this record until
        # each of its pieces settles.
        tracker.track(offset, pieces + len(letters))
        for letter in letters:
            self._dead_letter(ref, letter)

    def _route(
        self, event: codec.ConvergeEvent, ref: PieceRef, now: float, wall: float
    ) -> tuple[int, list[DeadLetter]]:
        """Map the event for every destination and batch what is to be sent.

        Returns how many pieces went into batches, and the dead letters of
        destinations whose mapping failed.
        """
        pieces = 0
        letters = []
        outcomes = map_for_each(event, self._destinations, wall)
        for batcher, (destination, outcome) in zip(
            self._batchers, outcomes, strict=True
        ):
            stats = self.stats.destinations[destination.name]
            if isinstance(outcome, Exception):
                # A mapping bug must not stop the flow: the record is kept.
                reason = f"mapping failed: {outcome!r}"
                letters.append(DeadLetter("map", reason, destination.name))
                continue
            if outcome.kind == "send" and outcome.event is not None:
                pieces += 1
                if batch := batcher.add(outcome.event, ref, now):
                    self._submit(batch)
            elif outcome.kind == "rejected":
                stats.rejected += 1
                self.metrics.events.labels(destination.name, "rejected").inc()
                stats.reasons[outcome.reason or "rejected"] += 1
                log.warning(
                    "event rejected",
                    destination=destination.name,
                    event_id=outcome.event_id,
                    reason=outcome.reason,
                )
            else:
                stats.skipped += 1
                self.metrics.events.labels(destination.name, "skipped").inc()
        return pieces, letters

    def _submit(self, batch: Batch) -> None:
        for ref in batch.refs:
            self._in_flight[ref.partition] += 1
        self._in_flight_by_destination[batch.destination.name] += len(batch)
        self._deliverer.submit(batch)

    def _serve_completions(self, wait: float = 0.0) -> None:
        """Settle finished batches and confirmed dead letters; wait if asked."""
        assert self._dead_letters is not None
        self._dead_letters.poll()
        while True:
            try:
                completion = (
                    self._completions.get(timeout=wait)
                    if wait
                    else (self._completions.get_nowait())
                )
            except queue.Empty:
                return
            wait = 0.0
            self._settle(completion)

    def _settle(self, completion: Completion) -> None:
        batch = completion.batch
        destination = batch.destination.name
        stats = self.stats.destinations[destination]
        for ref in batch.refs:
            self._in_flight[ref.partition] -= 1
        self._in_flight_by_destination[destination] -= len(batch)
        if completion.abandoned:
            log.warning(
                "batch abandoned at shutdown; its records stay uncommitted",
                destination=destination,
                events=len(batch),
            )
            return
        stats.sent += len(completion.accepted)
        self.metrics.events.labels(destination, "sent").inc(len(completion.accepted))

        for index in completion.accepted:
            self._watermarks.settle(batch.refs[index])
        for index, failure in completion.failed.items():
            stats.reasons[failure.reason] += 1
            event_id = batch.events[index].get("event_id")
            log.warning(
                "event not delivered; writing a dead letter",
                destination=destination,
                event_id=event_id,
                reason=failure.reason,
                pinterest_message=failure.pinterest_message,
            )
            letter = DeadLetter(
                "deliver",
                failure.reason,
                destination,
                failure.pinterest_message,
                completion.attempts,
                event_id,
            )
            self._dead_letter(batch.refs[index], letter)

    def _dead_letter(self, ref: PieceRef, letter: DeadLetter) -> None:
        assert self._dead_letters is not None
        self._in_flight[ref.partition] += 1

        def written() -> None:
            self._in_flight[ref.partition] -= 1
            self.stats.dead_letters += 1
            self.metrics.dead_letters.labels(letter.stage).inc()
            if letter.destination is not None:
                self.stats.destinations[letter.destination].dead_lettered += 1
                self.metrics.events.labels(letter.destination, "dead_lettered").inc()
            self._watermarks.settle(ref)

        log.warning(
            "dead letter",
            stage=letter.stage,
            reason=letter.reason,
            destination=letter.destination,
            topic=ref.partition[0],
            partition=ref.partition[1],
            offset=ref.offset,
        )
        self._dead_letters.write(ref.record, letter, written)

    def _buffered(self) -> int:
        return sum(len(b) for b in self._batchers) + self._in_flight_events()

    def _in_flight_events(self) -> int:
        return sum(self._in_flight_by_destination.values())

    def _most_buffered(self) -> tuple[str, int]:
        """The destination holding the most events, and how many."""
        held = {
            b.destination.name: len(b)
            + self._in_flight_by_destination[b.destination.name]
            for b in self._batchers
        }
        fullest = max(held, key=held.__getitem__)
        return fullest, held[fullest]

    def _apply_back_pressure(self, consumer: Consumer) -> None:
        delivery = self.config.delivery
        buffered = self._buffered()
        destination, held = self._most_buffered()
        if not self._paused and (
            buffered >= delivery.max_buffered_events
            or held >= delivery.max_buffered_per_destination
        ):
            self._paused = True
            consumer.pause(self._owned())
            log.info(
                "paused fetching",
                buffered_events=buffered,
                fullest_destination=destination,
                its_events=held,
            )
        elif (
            self._paused
            and buffered < delivery.max_buffered_events // 2
            and held < delivery.max_buffered_per_destination // 2
        ):
            self._paused = False
            consumer.resume(self._owned())
            log.info("resumed fetching", buffered_events=buffered)

    def _owned(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self._watermarks.owned()]

    def _commit(
        self,
        consumer: Consumer,
        asynchronous: bool,
        only: set[PartitionKey] | None = None,
    ) -> None:
        ready = self._watermarks.committable()
        if only is not None:
            ready = {k: v for k, v in ready.items() if k in only}
        if not ready:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in ready.items()]
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._record_commits(
                    consumer.commit(offsets=offsets, asynchronous=False)
                )
        except KafkaException as exc:
            log.warning("commit failed; the records will be read again", error=str(exc))

    def _on_commit(
        self, error: KafkaError | None, offsets: list[TopicPartition]
    ) -> None:
        if error is not None:
            log.warning(
                "commit failed; the records will be read again", error=str(error)
            )
            return
        self._record_commits(offsets)

    def _record_commits(self, offsets: list[TopicPartition]) -> None:
        done = {
            (tp.topic, tp.partition): tp.offset for tp in offsets if tp.error is None
        }
        self._watermarks.mark_committed(done)
        self.stats.committed.update(done)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=10)
        except KafkaException as exc:
            # Unknown is safe: the watermark starts at the first record read.
            log.warning("committed offsets not readable", error=str(exc))
            committed = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else None
            self._watermarks.assign((tp.topic, tp.partition), offset)
        # A partition given away while paused can come back still marked paused
        # in librdkafka, so its state is set explicitly either way.
        if self._paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)
        log.info("partitions assigned", partitions=_names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        for batcher in self._batchers:
            batcher.drop(keys)
        budget = _REVOKE_BUDGET_SHARE * float(
            self._settings.get("max.poll.interval.ms", _DEFAULT_MAX_POLL_INTERVAL_MS)
        )
        deadline = time.monotonic() + (0 if self._closing else budget / 1000)
        while any(self._in_flight[k] > 0 for k in keys) and time.monotonic() < deadline:
            self._serve_completions(wait=0.05)
        self._commit(consumer, asynchronous=False, only=keys)
        for key in keys:
            self._watermarks.release(key)
        log.info("partitions revoked", partitions=_names(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        for batcher in self._batchers:
            batcher.drop(keys)
        for key in keys:
            self._watermarks.release(key)
        log.warning(
            "partitions lost; nothing committed for them", partitions=_names(partitions)
        )

    def _finish(self, consumer: Consumer) -> None:
        for batcher in self._batchers:
            if batch := batcher.take():
                self._submit(batch)
        # Every batch gets the attempt it is making (or one more), no retries:
        # what is not answered for good stays uncommitted for the next run.
        self._deliverer.drain()
        deadline = time.monotonic() + self.config.service.shutdown_seconds
        while sum(self._in_flight.values()) > 0 and time.monotonic() < deadline:
            self._serve_completions(wait=0.1)
        if self._in_flight_events():
            log.warning(
                "stopping with batches still undelivered; their records stay "
                "uncommitted and will be read again",
                events=self._in_flight_events(),
            )
        self._commit(consumer, asynchronous=False)

    def _idle(self, consumer: Consumer) -> bool:
        now = time.monotonic()
        if now < self._next_idle_check:
            return False
        self._next_idle_check = now + _IDLE_CHECK_INTERVAL_S
        keys = self._watermarks.owned()
        if not keys or self._buffered() or self._watermarks.unsettled:
            return False
        for key in keys:
            tracker = self._watermarks.get(key)
            where = TopicPartition(*key)
            try:
                low, high = consumer.get_watermark_offsets(where, timeout=5)
                [position] = consumer.position([where])
            except KafkaException:
                return False  # the broker is away; ask again at the next check
            if self._stop_at is not None:
                high = min(high, self._stop_at.get(key[1], 0))
            if tracker is None or high <= low:
                continue
            if tracker.committed is None or tracker.committed < high:
                if position.offset >= high:
                    # Read to the end: offsets left are transaction markers.
                    tracker.skip_to(high)
                if tracker.watermark() == high:
                    self._commit(consumer, asynchronous=False)
                return False
        return True


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
