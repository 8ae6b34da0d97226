"""Per-partition bookkeeping of records that are read but not yet settled.

A record is settled when every piece derived from it (one per destination that
sends it) is accepted or failed for good; records with no piece to send settle
at once. The watermark of a partition is the lowest offset that is not settled,
which is exactly the offset to commit: a later success never jumps over an
earlier unsettled record. Each assignment of a partition gets a new epoch, so
completions that arrive after a partition was revoked can be recognised and
ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any

PartitionKey = tuple[str, int]
"""(topic, partition)."""


@dataclass(frozen=True, slots=True)
class PieceRef:
    """Where one piece of work came from: the record's partition, epoch and offset."""

    partition: PartitionKey
    epoch: int
    offset: int
    # The Kafka message itself, kept so a failed piece can be dead-lettered
    # with the record's original key and value bytes.
    record: Any = field(default=None, compare=False, repr=False)


class PartitionTracker:
    """Unsettled offsets of one assigned partition, in the order they were read."""

    def __init__(self, epoch: int, committed: int | None = None) -> None:
        self.epoch = epoch
        self.committed = committed
        self._order: deque[int] = deque()
        self._remaining: dict[int, int] = {}
        self._next: int | None = committed

    def track(self, offset: int, pieces: int) -> None:
        """Record that ``offset`` was read and has ``pieces`` pieces to settle."""
        self._order.append(offset)
        if pieces > 0:
            self._remaining[offset] = pieces

    def settle(self, offset: int) -> None:
        """Settle one piece of the record at ``offset``."""
        left = self._remaining.get(offset)
        if left is None:
            return
        if left > 1:
            self._remaining[offset] = left - 1
        else:
            del self._remaining[offset]

    def skip_to(self, offset: int) -> None:
        """Move the watermark over offsets that carry no record (transaction
        markers, compacted gaps), when nothing before them is unsettled."""
        mark = self.watermark()
        if not self._remaining and (mark is None or offset > mark):
            self._order.clear()
            self._next = offset

    @property
    def unsettled(self) -> int:
        """How many records of this partition still wait for a piece."""
        return len(self._remaining)

    def watermark(self) -> int | None:
        """The offset to commit: the lowest unsettled one, or one past the last read."""
        while self._order and self._order[0] not in self._remaining:
            self._next = self._order.popleft() + 1
        if self._order:
            return self._order[0]
        return self._next


class Watermarks:
    """Trackers of every partition this instance owns, keyed by (topic, partition)."""

    def __init__(self) -> None:
        self._epochs = count(1)
        self._trackers: dict[PartitionKey, PartitionTracker] = {}

    def assign(self, key: PartitionKey, committed: int | None) -> PartitionTracker:
        """Start tracking a newly assigned partition under a fresh epoch."""
        tracker = PartitionTracker(next(self._epochs), committed)
        self._trackers[key] = tracker
        return tracker

    def release(self, key: PartitionKey) -> PartitionTracker | None:
        """Stop tracking a partition; later completions for it are ignored."""
        return self._trackers.pop(key, None)

    def get(self, key: PartitionKey) -> PartitionTracker | None:
        """The tracker of an owned partition, or None if not owned."""
        return self._trackers.get(key)

    def settle(self, ref: PieceRef) -> bool:
        """Settle a piece unless its partition was revoked since; True if counted."""
        tracker = self._trackers.get(ref.partition)
        if tracker is None or tracker.epoch != ref.epoch:
            return False
        tracker.settle(ref.offset)
        return True

    def committable(self) -> dict[PartitionKey, int]:
        """Watermarks that moved past what was last committed."""
        ready = {}
        for key, tracker in self._trackers.items():
            mark = tracker.watermark()
            if mark is not None and (
                tracker.committed is None or mark > tracker.committed
            ):
                ready[key] = mark
        return ready

    def mark_committed(self, offsets: dict[PartitionKey, int]) -> None:
        """Remember what the broker confirmed, for owned partitions only."""
        for key, offset in offsets.items():
            tracker = self._trackers.get(key)
            if tracker is not None and (
                tracker.committed is None or offset > tracker.committed
            ):
                tracker.committed = offset

    def owned(self) -> list[PartitionKey]:
        """Every owned partition."""
        return list(self._trackers)

    @property
    def unsettled(self) -> int:
        """Records waiting for a piece, over every owned partition."""
        return sum(t.unsettled for t in self._trackers.values())
