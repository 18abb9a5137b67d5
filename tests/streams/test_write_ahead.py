"""WriteAhead: batches written in order, one at a time, with bounded memory and no silent end."""

from __future__ import annotations

import asyncio
import random

import pytest

from streams.write_ahead import WriteAhead, WriterStopped


class Recorder:
    def __init__(self, delays: list[float] | None = None) -> None:
        self.written: list[int] = []
        self.active = 0
        self.max_active = 0
        self.delays = delays or []
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, batch: int) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await self.gate.wait()
        if self.delays:
            await asyncio.sleep(self.delays[batch % len(self.delays)])
        self.written.append(batch)
        self.active -= 1


@pytest.mark.parametrize("depth", [1, 3])
async def test_every_batch_is_written_once_in_order_one_at_a_time(depth: int) -> None:
    rng = random.Random(depth)
    recorder = Recorder(delays=[rng.random() / 500 for _ in range(17)])
    async with WriteAhead(recorder.write, depth=depth) as writer:
        for batch in range(60):
            await writer.put(batch)
    assert recorder.written == list(range(60))
    assert recorder.max_active == 1


async def test_put_waits_once_depth_batches_are_waiting() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the database is slow
    async with WriteAhead(recorder.write, depth=1) as writer:
        await writer.put(1)
        await asyncio.sleep(0)  # the writer takes batch 1 and blocks in it
        await writer.put(2)  # waits in the queue
        third = asyncio.ensure_future(writer.put(3))
        await asyncio.sleep(0.01)
        assert not third.done()  # memory stays bounded: the stream is held back
        recorder.gate.set()
        await third
    assert recorder.written == [1, 2, 3]


async def test_a_writer_that_died_stops_the_agent_with_its_error() -> None:
    async def write(batch: int) -> None:
        raise RuntimeError(f"bug while writing {batch}")

    with pytest.raises(WriterStopped) as stopped:
        async with WriteAhead(write, depth=1) as writer:
            await writer.put(1)
            await asyncio.sleep(0)
            await writer.put(2)
    assert isinstance(stopped.value.__cause__, RuntimeError)
    assert "bug while writing 1" in str(stopped.value.__cause__)


async def test_a_put_waiting_for_room_fails_when_the_writer_dies() -> None:
    gate = asyncio.Event()

    async def write(batch: int) -> None:
        await gate.wait()
        raise RuntimeError("connection pool closed")

    with pytest.raises(WriterStopped):
        async with WriteAhead(write, depth=1) as writer:
            await writer.put(1)
            await asyncio.sleep(0)
            await writer.put(2)
            waiting = asyncio.ensure_future(writer.put(3))
            await asyncio.sleep(0)
            gate.set()
            await waiting


async def test_leaving_on_an_error_cancels_the_write_in_progress() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    with pytest.raises(KeyboardInterrupt):
        async with WriteAhead(recorder.write, depth=1) as writer:
            await writer.put(1)
            await asyncio.sleep(0)
            raise KeyboardInterrupt
    assert recorder.written == []  # not half-written: PostgreSQL rolls the batch back


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WriteAhead(lambda batch: asyncio.sleep(0), depth=0)


async def test_a_failed_writer_is_reported_at_once_even_with_nothing_more_to_put() -> None:
    """The agent may be waiting for records that never come: the failure must not wait for
    the next put (a worker hung with its writer dead, found by the fault suite)."""
    reported: list[BaseException] = []

    async def fail(batch: int) -> None:
        raise RuntimeError(f"batch {batch} failed")

    with pytest.raises(WriterStopped):
        async with WriteAhead(fail, depth=1, on_failure=reported.append) as writer:
            await writer.put(1)
            for _ in range(50):
                if reported:
                    break
                await asyncio.sleep(0.01)
            assert [str(e) for e in reported] == ["batch 1 failed"]  # before any other put
            await writer.put(2)
