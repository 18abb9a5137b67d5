"""Whole fetches to the agent (``streams/fetched_batches.py``): Faust's read-offset check made
once per partition, nothing else dropped, batches of at most ``size`` records within
``within`` seconds, and a full queue that holds the fetch loop back."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.batch import SourceRecord
from streams.fetched_batches import FetchedBatches, fresh_records


class TP(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None


def _records(partition: int, offsets: list[int]) -> list[Record]:
    return [Record(o, b"k", f"{partition}:{o}".encode()) for o in offsets]


def _faust_read_offset_check(
    fetched: dict[TP, list[Record]], read: dict[TP, int | None]
) -> list[SourceRecord]:
    """What faust-streaming 0.15.3's ``_drain_messages`` let through by read offset, record
    by record (the reference the batched check must equal)."""
    out = []
    for tp, records in fetched.items():
        for record in records:
            r_offset = read.get(tp)
            if r_offset is None or record.offset >= r_offset:
                out.append(SourceRecord(tp.partition, record.offset, record.key, record.value))
                read[tp] = record.offset
    return out


@given(
    st.dictionaries(
        st.integers(0, 5),
        st.lists(st.integers(0, 40), max_size=12).map(sorted),
        max_size=6,
    ),
    st.dictionaries(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 40))),
)
def test_the_batched_check_lets_through_what_faust_s_per_record_check_did(
    offsets: dict[int, list[int]], read: dict[int, int | None]
) -> None:
    fetched = {TP("t", p): _records(p, o) for p, o in offsets.items()}
    expected_read: dict[TP, int | None] = {TP("t", p): o for p, o in read.items()}
    expected = _faust_read_offset_check(fetched, expected_read)
    read_offsets: defaultdict[Any, int | None] = defaultdict(lambda: None)
    read_offsets.update({TP("t", p): o for p, o in read.items()})
    assert fresh_records(fetched, "t", read_offsets) == expected
    assert {k: v for k, v in read_offsets.items() if v is not None} == {
        k: v for k, v in expected_read.items() if v is not None
    }


@given(
    st.dictionaries(st.integers(0, 5), st.integers(1, 12), max_size=6),
    st.dictionaries(st.integers(0, 5), st.integers(0, 40)),
)
def test_only_records_below_what_was_read_are_dropped(
    counts: dict[int, int], read: dict[int, int]
) -> None:
    """A record below the read offset was delivered already, or is below a seek target that
    PostgreSQL holds; every other fetched record reaches the agent exactly once."""
    start = 30
    fetched = {TP("t", p): _records(p, list(range(start, start + n))) for p, n in counts.items()}
    read_offsets: defaultdict[Any, int | None] = defaultdict(lambda: None)
    read_offsets.update({TP("t", p): o for p, o in read.items()})
    got = fresh_records(fetched, "t", read_offsets)
    expected = [
        (p, o) for p, n in counts.items() for o in range(start, start + n) if o >= read.get(p, -1)
    ]
    assert [(r.partition, r.offset) for r in got] == expected


def test_records_of_another_topic_stop_the_worker_rather_than_be_counted_as_ours() -> None:
    with pytest.raises(RuntimeError, match="other"):
        fresh_records({TP("other", 0): _records(0, [1])}, "t", defaultdict(None))


def _fetch(partition: int, first: int, n: int) -> list[SourceRecord]:
    return [SourceRecord(partition, o, None, b"") for o in range(first, first + n)]


async def test_fetches_are_joined_and_split_into_batches_of_at_most_size() -> None:
    feed = FetchedBatches(depth=4)
    for first in (0, 3, 6, 9):
        await feed.put(_fetch(0, first, 3))
    batches = feed.batches(size=5, within=0.05)
    first_batch = await anext(batches)
    second = await anext(batches)
    third = await asyncio.wait_for(anext(batches), 1)  # the last 2, after ``within``
    assert [len(first_batch), len(second), len(third)] == [5, 5, 2]
    assert [r.offset for r in first_batch + second + third] == list(range(12))


async def test_a_part_batch_waits_within_seconds_for_more_then_goes() -> None:
    feed = FetchedBatches(depth=2)
    await feed.put(_fetch(0, 0, 2))
    batches = feed.batches(size=10, within=0.3)
    taking = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.1)
    assert not taking.done()  # within 0.3 s a fuller batch may come
    await feed.put(_fetch(1, 0, 3))
    batch = await asyncio.wait_for(taking, 1)
    assert [(r.partition, r.offset) for r in batch] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]


async def test_a_full_queue_holds_the_fetch_loop_until_the_agent_takes_one() -> None:
    feed = FetchedBatches(depth=1)
    await feed.put(_fetch(0, 0, 2))
    putting = asyncio.ensure_future(feed.put(_fetch(0, 2, 2)))
    await asyncio.sleep(0.01)
    assert not putting.done()
    batches = feed.batches(size=2, within=0)
    assert [r.offset for r in await anext(batches)] == [0, 1]
    await asyncio.wait_for(putting, 1)
    assert [r.offset for r in await anext(batches)] == [2, 3]


async def test_an_empty_fetch_queues_nothing() -> None:
    feed = FetchedBatches(depth=1)
    await feed.put([])
    await asyncio.wait_for(feed.put(_fetch(0, 0, 1)), 1)  # the one slot is still free
    assert [r.offset for r in await anext(feed.batches(size=5, within=0))] == [0]


def test_size_and_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        FetchedBatches(depth=0)
    with pytest.raises(ValueError, match="size"):
        asyncio.run(_first(FetchedBatches().batches(size=0, within=1)))


async def _first(batches: AsyncIterator[list[SourceRecord]]) -> list[SourceRecord]:
    return await anext(batches)
