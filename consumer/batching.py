"""Per-destination batches of mapped Pinterest events, flushed on size or linger.

A batch holds at most ``batch_size`` events (Pinterest takes 1 to 1000 per
request) and leaves once it is full or its oldest event has waited ``linger``
seconds. Each event keeps the reference of the Kafka record it came from, so
its outcome can be settled against that record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import Any

from consumer.config import Destination
from consumer.watermarks import PartitionKey, PieceRef

_batch_ids = count(1)


@dataclass
class Batch:
    """Events on their way to one destination, with where each came from."""

    destination: Destination
    events: list[dict[str, Any]] = field(default_factory=list)
    refs: list[PieceRef] = field(default_factory=list)
    started: float = 0.0
    id: int = field(default_factory=lambda: next(_batch_ids))

    def __len__(self) -> int:
        return len(self.events)


class Batcher:
    """Collects one destination's events into batches."""

    def __init__(self, destination: Destination, batch_size: int, linger: float):
        self.destination = destination
        self.batch_size = batch_size
        self.linger = linger
        self._open = Batch(destination)
        # When each open event arrived, so linger restarts right after a drop.
        self._added: list[float] = []

    def add(self, event: dict[str, Any], ref: PieceRef, now: float) -> Batch | None:
        """Add an event; return the batch when this made it full."""
        if not self._open.events:
            self._open.started = now
        self._open.events.append(event)
        self._open.refs.append(ref)
        self._added.append(now)
        if len(self._open) >= self.batch_size:
            return self.take()
        return None

    def due(self, now: float) -> Batch | None:
        """Return the open batch if its oldest event has lingered long enough."""
        if self._open.events and now - self._open.started >= self.linger:
            return self.take()
        return None

    def take(self) -> Batch | None:
        """Hand out whatever is open, if anything."""
        if not self._open.events:
            return None
        batch, self._open = self._open, Batch(self.destination)
        self._added = []
        return batch

    def drop(self, partitions: set[PartitionKey]) -> int:
        """Forget unsent events of revoked partitions; return how many went."""
        open_ = self._open
        keep = [
            (event, ref, added)
            for event, ref, added in zip(
                open_.events, open_.refs, self._added, strict=True
            )
            if ref.partition not in partitions
        ]
        dropped = len(open_) - len(keep)
        open_.events = [event for event, _, _ in keep]
        open_.refs = [ref for _, ref, _ in keep]
        self._added = [added for _, _, added in keep]
        if self._added:
            open_.started = self._added[0]
        return dropped

    def __len__(self) -> int:
        return len(self._open)
