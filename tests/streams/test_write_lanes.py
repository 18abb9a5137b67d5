"""WriteLanes: a worker's batches written side by side, each partition in one lane, in order."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.batch import SourceRecord
from streams.write_ahead import WriterStopped
from streams.write_lanes import WriteLanes


class Recorder:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.batches: list[list[SourceRecord]] = []
        self.active = 0
        self.max_active = 0
        self.rng = rng
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, records: list[SourceRecord]) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await self.gate.wait()
        if self.rng is not None:
            await asyncio.sleep(self.rng.random() / 1000)
        self.batches.append(records)
        self.active -= 1


def _records(coords: list[tuple[int, int]]) -> list[SourceRecord]:
    return [SourceRecord(p, o, None, b"{}") for p, o in coords]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=30), min_size=1, max_size=12),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
)
def test_every_record_once_each_partition_in_one_lane_in_offset_order(
    fetches: list[list[int]], lanes: int, rng: random.Random
) -> None:
    """Whatever the batches and lane count: each record is written once, every written batch
    holds the partitions of one lane only, and a partition's records are written in the order
    they came (its checkpoint only moves forward)."""
    next_offset: dict[int, int] = {}
    batches = []
    for partitions in fetches:
        coords = []
        for p in partitions:
            coords.append((p, next_offset.get(p, 0)))
            next_offset[p] = next_offset.get(p, 0) + 1
        batches.append(_records(coords))
    recorder = Recorder(rng)

    writer = WriteLanes(recorder.write, lanes)

    async def run() -> None:
        async with writer:
            for batch in batches:
                await writer.put(batch)

    asyncio.run(run())
    written = [(r.partition, r.offset) for b in recorder.batches for r in b]
    assert sorted(written) == sorted((r.partition, r.offset) for b in batches for r in b)
    for batch in recorder.batches:
        assert batch and len({writer.lane_of(r.partition) for r in batch}) == 1
    for p in next_offset:
        assert [o for q, o in written if q == p] == list(range(next_offset[p]))


async def test_batches_of_partitions_in_two_lanes_are_written_at_the_same_time() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the database is slow
    async with WriteLanes(recorder.write, lanes=2) as writer:
        await writer.put(_records([(0, 0), (1, 0), (0, 1)]))
        await asyncio.sleep(0.01)
        assert recorder.max_active == 2  # one transaction per lane, side by side
        recorder.gate.set()
    assert sorted([(r.partition, r.offset) for r in b] for b in recorder.batches) == [
        [(0, 0), (0, 1)],
        [(1, 0)],
    ]


def test_a_workers_partitions_spread_over_the_lanes_whatever_their_numbers() -> None:
    """A round-robin assignment gives a worker 0, 2, 4, 6: ``p % 2`` put them all in one
    lane. Each partition keeps its first lane; new ones go to the lane with the fewest."""
    writer = WriteLanes(Recorder().write, lanes=2)
    assert [writer.lane_of(p) for p in (0, 2, 4, 6)] == [0, 1, 0, 1]
    assert [writer.lane_of(p) for p in (6, 4, 2, 0)] == [1, 0, 1, 0]  # kept
    assert writer.lane_of(9) == 0
    three = WriteLanes(Recorder().write, lanes=3)
    assert sorted(three.lane_of(p) for p in (1, 4, 7, 10, 13, 16)) == [0, 0, 1, 1, 2, 2]


async def test_one_lane_writes_one_batch_at_a_time() -> None:
    recorder = Recorder(random.Random(3))
    async with WriteLanes(recorder.write, lanes=1) as writer:
        for o in range(20):
            await writer.put(_records([(0, o), (1, o), (2, o)]))
    assert recorder.max_active == 1
    assert [len(b) for b in recorder.batches] == [3] * 20


async def test_drain_waits_for_every_lane() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    async with WriteLanes(recorder.write, lanes=3) as writer:
        await writer.put(_records([(0, 0), (1, 0), (2, 0)]))
        draining = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(0.01)
        assert not draining.done()
        recorder.gate.set()
        await draining
        assert len(recorder.batches) == 3


async def test_a_lane_that_failed_is_reported_at_once_and_stops_the_puts() -> None:
    failures: list[BaseException] = []

    async def write(records: list[SourceRecord]) -> None:
        if records[0].partition == 1:
            raise RuntimeError("bug while writing partition 1")

    with pytest.raises(WriterStopped) as stopped:  # and the end of the worker's loop too
        async with WriteLanes(write, lanes=2, on_failure=failures.append) as writer:
            await writer.put(_records([(0, 0), (1, 0)]))
            for _ in range(5):
                await asyncio.sleep(0)
            assert [str(f) for f in failures] == ["bug while writing partition 1"]
            await writer.put(_records([(0, 1)]))  # the other lane still writes
            with pytest.raises(WriterStopped):
                await writer.put(_records([(1, 1)]))
    assert "bug while writing partition 1" in str(stopped.value.__cause__)


def test_lanes_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="lanes"):
        WriteLanes(Recorder().write, lanes=0)
