"""Per-destination batching: size and linger flushes, dropping revoked partitions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumer.batching import Batch, Batcher
from consumer.config import Destination
from consumer.watermarks import PieceRef

DESTINATION = Destination(
    name="main", ad_account_id="549755810001", tag_id="1", access_token="pina_x"
)
P0 = ("events", 0)
P1 = ("events", 1)


def ref(offset: int, partition: tuple[str, int] = P0) -> PieceRef:
    return PieceRef(partition, 1, offset)


def event(n: int) -> dict[str, int]:
    return {"n": n}


def test_batch_leaves_when_it_reaches_batch_size() -> None:
    """The add that fills the batch returns it, and a fresh batch opens."""
    batcher = Batcher(DESTINATION, batch_size=3, linger=10.0)
    assert batcher.add(event(0), ref(0), now=0.0) is None
    assert batcher.add(event(1), ref(1), now=0.0) is None
    batch = batcher.add(event(2), ref(2), now=0.0)
    assert batch is not None
    assert batch.events == [event(0), event(1), event(2)]
    assert [r.offset for r in batch.refs] == [0, 1, 2]
    assert batch.destination is DESTINATION
    assert len(batcher) == 0


def test_batch_of_size_one_leaves_on_every_add() -> None:
    """With batch_size 1 each event is its own batch."""
    batcher = Batcher(DESTINATION, batch_size=1, linger=10.0)
    first = batcher.add(event(0), ref(0), now=0.0)
    second = batcher.add(event(1), ref(1), now=0.0)
    assert first is not None
    assert second is not None
    assert len(first) == len(second) == 1
    assert first.id != second.id


def test_batch_is_not_due_before_linger() -> None:
    """An open batch stays until its oldest event has waited linger seconds."""
    batcher = Batcher(DESTINATION, batch_size=100, linger=0.5)
    batcher.add(event(0), ref(0), now=10.0)
    batcher.add(event(1), ref(1), now=10.4)
    assert batcher.due(now=10.49) is None
    batch = batcher.due(now=10.5)
    assert batch is not None
    assert len(batch) == 2
    assert batch.started == 10.0


def test_linger_counts_from_first_event_of_each_new_batch() -> None:
    """After a batch leaves, the next batch's linger starts at its own first event."""
    batcher = Batcher(DESTINATION, batch_size=2, linger=1.0)
    batcher.add(event(0), ref(0), now=0.0)
    assert batcher.add(event(1), ref(1), now=0.1) is not None
    batcher.add(event(2), ref(2), now=5.0)
    assert batcher.due(now=5.9) is None
    assert batcher.due(now=6.0) is not None


def test_empty_batcher_is_never_due_and_take_returns_none() -> None:
    """Nothing open means nothing to hand out."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=0.0)
    assert batcher.due(now=1e9) is None
    assert batcher.take() is None


def test_zero_linger_makes_any_event_due_at_once() -> None:
    """linger 0 flushes an event on the next due check."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=0.0)
    batcher.add(event(0), ref(0), now=3.0)
    assert batcher.due(now=3.0) is not None


def test_take_hands_out_a_partial_batch() -> None:
    """take() empties the batcher regardless of size or linger."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=60.0)
    batcher.add(event(0), ref(0), now=0.0)
    batch = batcher.take()
    assert isinstance(batch, Batch)
    assert len(batch) == 1
    assert len(batcher) == 0


def test_drop_removes_only_revoked_partitions_events_with_their_refs() -> None:
    """Events of revoked partitions go; the others keep their order and refs."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=60.0)
    for offset, partition in enumerate([P0, P1, P0, P1]):
        batcher.add(event(offset), ref(offset, partition), now=0.0)
    assert batcher.drop({P1}) == 2
    batch = batcher.take()
    assert batch is not None
    assert batch.events == [event(0), event(2)]
    assert [(r.partition, r.offset) for r in batch.refs] == [(P0, 0), (P0, 2)]


def test_drop_of_unknown_partition_keeps_everything() -> None:
    """Dropping a partition that has nothing open drops nothing."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=60.0)
    batcher.add(event(0), ref(0), now=0.0)
    assert batcher.drop({("other", 9)}) == 0
    assert len(batcher) == 1


def test_drop_of_everything_restarts_linger_with_next_event() -> None:
    """After all open events are dropped, linger counts from the next event added."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=1.0)
    batcher.add(event(0), ref(0, P1), now=0.0)
    assert batcher.drop({P1}) == 1
    assert batcher.due(now=100.0) is None
    batcher.add(event(1), ref(1), now=100.0)
    assert batcher.due(now=100.5) is None


def test_linger_counts_from_oldest_remaining_event_after_drop() -> None:
    """After the oldest event is dropped, the batch lingers from the oldest kept one."""
    batcher = Batcher(DESTINATION, batch_size=10, linger=1.0)
    batcher.add(event(0), ref(0, P1), now=0.0)
    batcher.add(event(1), ref(1, P0), now=0.9)
    batcher.drop({P1})
    assert batcher.due(now=1.0) is None


@given(st.integers(1, 50), st.lists(st.integers(0, 3), max_size=200))
def test_every_event_leaves_exactly_once_in_order(
    batch_size: int, partitions: list[int]
) -> None:
    """Full batches plus the final take return every event once, in order, none
    larger than batch_size."""
    batcher = Batcher(DESTINATION, batch_size=batch_size, linger=60.0)
    out: list[Batch] = []
    for offset, partition in enumerate(partitions):
        batch = batcher.add(event(offset), ref(offset, ("t", partition)), now=0.0)
        if batch is not None:
            out.append(batch)
    last = batcher.take()
    if last is not None:
        out.append(last)
    assert all(1 <= len(b) <= batch_size for b in out)
    assert [e["n"] for b in out for e in b.events] == list(range(len(partitions)))
    assert all(len(b.events) == len(b.refs) for b in out)
