"""Counters of one service run, for the summary people read at the end."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from consumer.watermarks import PartitionKey


@dataclass
class DestinationStats:
    """What happened to one destination's events in this run."""

    sent: int = 0
    dead_lettered: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class RunStats:
    """Counters of one run."""

    records: int = 0
    # Records a filter (redrive's) left alone.
    passed_over: int = 0
    undecodable: int = 0
    dead_letters: int = 0
    destinations: dict[str, DestinationStats] = field(
        default_factory=lambda: defaultdict(DestinationStats)
    )
    committed: dict[PartitionKey, int] = field(default_factory=dict)

    def summary(self) -> str:
        """A few readable lines: records read, then one line per destination."""
        lines = [
            f"records read: {self.records}, undecodable: {self.undecodable}, "
            f"dead letters written: {self.dead_letters}"
            + (f", passed over: {self.passed_over}" if self.passed_over else "")
        ]
        for name, d in sorted(self.destinations.items()):
            lines.append(
                f"  {name}: sent {d.sent}, dead-lettered {d.dead_lettered}, "
                f"rejected {d.rejected}, skipped {d.skipped}"
            )
        return "\n".join(lines)
