"""Settle-then-commit watermarks: PartitionTracker, Watermarks and PieceRef epochs."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from consumer.watermarks import PartitionTracker, PieceRef, Watermarks

KEY = ("events", 0)
OTHER = ("events", 1)


def test_fresh_tracker_has_no_watermark_without_committed_offset() -> None:
    """A partition with nothing read and nothing committed offers no offset."""
    assert PartitionTracker(epoch=1).watermark() is None


def test_fresh_tracker_watermark_is_the_committed_offset() -> None:
    """Before anything is read, the watermark is what the broker had committed."""
    assert PartitionTracker(epoch=1, committed=42).watermark() == 42


def test_record_without_pieces_settles_at_once() -> None:
    """A record with no piece to send moves the watermark past it immediately."""
    tracker = PartitionTracker(epoch=1, committed=10)
    tracker.track(10, 0)
    assert tracker.unsettled == 0
    assert tracker.watermark() == 11


def test_watermark_stays_at_lowest_unsettled_offset() -> None:
    """A later settled record never lets the watermark jump an earlier one."""
    tracker = PartitionTracker(epoch=1)
    for offset in (5, 6, 7):
        tracker.track(offset, 1)
    tracker.settle(7)
    tracker.settle(6)
    assert tracker.watermark() == 5
    tracker.settle(5)
    assert tracker.watermark() == 8


def test_record_with_several_pieces_waits_for_every_piece() -> None:
    """A record sent to two destinations settles only when both pieces settle."""
    tracker = PartitionTracker(epoch=1)
    tracker.track(3, 2)
    tracker.settle(3)
    assert tracker.watermark() == 3
    assert tracker.unsettled == 1
    tracker.settle(3)
    assert tracker.watermark() == 4
    assert tracker.unsettled == 0


def test_settling_an_unknown_offset_changes_nothing() -> None:
    """A settle for an offset never tracked (or already settled) is ignored."""
    tracker = PartitionTracker(epoch=1)
    tracker.track(0, 1)
    tracker.settle(99)
    assert tracker.watermark() == 0
    tracker.settle(0)
    tracker.settle(0)
    assert tracker.watermark() == 1


def test_gaps_in_offsets_are_skipped_by_the_watermark() -> None:
    """Offsets missing from the log (compaction, markers) are never waited for."""
    tracker = PartitionTracker(epoch=1)
    tracker.track(10, 1)
    tracker.track(20, 1)
    tracker.settle(10)
    assert tracker.watermark() == 20
    tracker.settle(20)
    assert tracker.watermark() == 21


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.integers(0, 1000),
)
def test_watermark_never_passes_an_unsettled_offset(
    pieces: list[int], rng: random.Random, first: int
) -> None:
    """For any order of settles the watermark stays at or below the lowest unsettled
    offset, and reaches last + 1 once every piece has settled."""
    tracker = PartitionTracker(epoch=1, committed=first)
    remaining = {}
    for index, count in enumerate(pieces):
        tracker.track(first + index, count)
        if count:
            remaining[first + index] = count
    work = [offset for offset, count in remaining.items() for _ in range(count)]
    rng.shuffle(work)
    previous = first
    for offset in work:
        tracker.settle(offset)
        remaining[offset] -= 1
        if not remaining[offset]:
            del remaining[offset]
        mark = tracker.watermark()
        assert mark is not None
        assert mark >= previous, "the watermark went backwards"
        if remaining:
            assert mark <= min(remaining)
        previous = mark
    assert tracker.watermark() == first + len(pieces)
    assert tracker.unsettled == 0


def test_committable_offers_only_watermarks_past_the_commit() -> None:
    """Only partitions whose watermark moved beyond the committed offset are offered."""
    marks = Watermarks()
    marks.assign(KEY, committed=5)
    other = marks.assign(OTHER, committed=None)
    assert marks.committable() == {}
    other.track(0, 0)
    assert marks.committable() == {OTHER: 1}


def test_mark_committed_stops_offering_the_same_offset_again() -> None:
    """After the broker confirms an offset it is not offered a second time."""
    marks = Watermarks()
    tracker = marks.assign(KEY, committed=None)
    tracker.track(0, 0)
    marks.mark_committed(marks.committable())
    assert marks.committable() == {}
    assert tracker.committed == 1


def test_mark_committed_never_moves_backwards_or_touches_unowned() -> None:
    """An older confirmation never lowers the committed offset; unowned are skipped."""
    marks = Watermarks()
    tracker = marks.assign(KEY, committed=10)
    marks.mark_committed({KEY: 4, OTHER: 7})
    assert tracker.committed == 10
    assert marks.get(OTHER) is None


def test_settle_counts_only_for_the_current_epoch() -> None:
    """A completion from before a revoke and reassignment is ignored."""
    marks = Watermarks()
    old = marks.assign(KEY, committed=0)
    old.track(0, 1)
    stale = PieceRef(KEY, old.epoch, 0)
    marks.release(KEY)
    new = marks.assign(KEY, committed=0)
    new.track(0, 1)
    assert new.epoch != old.epoch
    assert marks.settle(stale) is False
    assert new.watermark() == 0
    assert marks.settle(PieceRef(KEY, new.epoch, 0)) is True
    assert new.watermark() == 1


def test_settle_for_a_released_partition_is_not_counted() -> None:
    """Once a partition is released its completions report False."""
    marks = Watermarks()
    tracker = marks.assign(KEY, committed=None)
    tracker.track(0, 1)
    assert marks.release(KEY) is tracker
    assert marks.settle(PieceRef(KEY, tracker.epoch, 0)) is False
    assert marks.release(KEY) is None
    assert marks.owned() == []


def test_unsettled_sums_records_over_every_partition() -> None:
    """The total of waiting records counts records, not pieces, across partitions."""
    marks = Watermarks()
    marks.assign(KEY, None).track(0, 3)
    other = marks.assign(OTHER, None)
    other.track(0, 1)
    other.track(1, 0)
    assert marks.unsettled == 2
    assert sorted(marks.owned()) == [KEY, OTHER]


def test_every_assignment_gets_a_new_epoch() -> None:
    """Epochs are unique across partitions and reassignments of one instance."""
    marks = Watermarks()
    epochs = [marks.assign(KEY, None).epoch for _ in range(3)]
    epochs.append(marks.assign(OTHER, None).epoch)
    assert len(set(epochs)) == 4
