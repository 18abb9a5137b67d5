"""Eager delivery: same outcome as Faust's per-record ``wait_first``, without its tasks."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from mode import Service

from streams.consumer import KretsloppConsumer
from streams.delivery import DELIVERED, FlowWatch, Remainder, deliver_eagerly, finish_blocked


class Buffer:
    """Stands in for Faust's per-partition callback: a put into a bounded stream buffer."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue(maxsize)
        self.cancelled: list[int] = []

    async def on_message(self, message: int) -> str:
        try:
            await self.queue.put(message)
        except asyncio.CancelledError:
            self.cancelled.append(message)
            raise
        return f"delivered {message}"


async def test_a_record_that_fits_is_in_the_buffer_before_deliver_returns() -> None:
    buffer = Buffer(maxsize=2)
    deliver = deliver_eagerly(buffer.on_message)
    assert deliver(1) is DELIVERED
    assert deliver(2) is DELIVERED
    assert [buffer.queue.get_nowait(), buffer.queue.get_nowait()] == [1, 2]


async def test_a_blocked_record_finishes_when_awaited_after_room_is_made() -> None:
    buffer = Buffer(maxsize=1)
    deliver = deliver_eagerly(buffer.on_message)
    assert deliver(1) is DELIVERED
    rest = deliver(2)
    assert isinstance(rest, Remainder)
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not task.done()  # still waiting for room
    assert buffer.queue.get_nowait() == 1
    assert await task == "delivered 2"
    assert buffer.queue.get_nowait() == 2


async def test_a_blocked_record_loses_the_race_to_a_rebalance_and_is_dropped() -> None:
    """The reason for Faust's race: while flow is suspended, a blocked record must not land."""

    class Consumer(Service):
        pass

    consumer = Consumer()
    await consumer.start()
    try:
        buffer = Buffer(maxsize=1)
        deliver = deliver_eagerly(buffer.on_message)
        deliver(1)
        suspend_flow = asyncio.Event()
        suspend_flow.set()  # a rebalance started
        result = await consumer.wait_first(deliver(2), suspend_flow.wait())
        await asyncio.sleep(0)  # let the cancellation reach the delivery coroutine
        assert result.results == [True]  # the suspend event won
        assert buffer.cancelled == [2]
        assert buffer.queue.qsize() == 1 and buffer.queue.get_nowait() == 1
    finally:
        await consumer.stop()


async def test_an_error_in_delivery_is_raised_where_the_consumer_loop_sees_it() -> None:
    async def broken(message: int) -> None:
        raise ValueError(f"cannot deliver {message}")

    with pytest.raises(ValueError, match="cannot deliver 7"):
        deliver_eagerly(broken)(7)


def fails_once_released(gate: asyncio.Event) -> Callable[[int], Awaitable[None]]:
    """A delivery that blocks until ``gate`` is set, then fails."""

    async def fails_later(message: int) -> None:
        await gate.wait()
        raise LookupError(message)

    return fails_later


@pytest.mark.parametrize("through_the_race", [False, True])
async def test_an_error_after_blocking_comes_out_where_the_rest_is_awaited(
    through_the_race: bool,
) -> None:
    gate = asyncio.Event()
    rest = deliver_eagerly(fails_once_released(gate))(3)
    assert isinstance(rest, Remainder)
    watch = FlowWatch(asyncio.Event().wait)
    task = asyncio.ensure_future(
        finish_blocked(rest, watch.current()) if through_the_race else rest
    )
    gate.set()
    with pytest.raises(LookupError):
        await task
    watch.close()


async def test_wait_first_settles_a_delivered_record_without_scheduling_anything() -> None:
    suspend_flow = asyncio.Event()
    pending_tasks = len(asyncio.all_tasks())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        result = await KretsloppConsumer.wait_first(cast(Any, None), DELIVERED, suspend_flow.wait())
        gc.collect()
    assert (
        len(result.done) == 1 and cast(object, result.done[0]) is DELIVERED and not result.stopped
    )
    assert len(asyncio.all_tasks()) == pending_tasks


async def test_a_blocked_record_finishes_through_the_shared_watch_when_room_is_made() -> None:
    buffer = Buffer(maxsize=1)
    deliver = deliver_eagerly(buffer.on_message)
    suspend_flow = asyncio.Event()
    watch = FlowWatch(suspend_flow.wait)
    deliver(1)
    rest = deliver(2)
    assert isinstance(rest, Remainder)
    finishing = asyncio.ensure_future(finish_blocked(rest, watch.current()))
    await asyncio.sleep(0)
    assert not finishing.done()
    assert buffer.queue.get_nowait() == 1
    assert await finishing == (True, "delivered 2")
    assert buffer.queue.get_nowait() == 2
    watch.close()


async def test_one_watch_serves_every_blocked_record_until_the_flow_is_suspended() -> None:
    """The point of the watch: no new waiter per blocked record; and a suspended flow still
    wins the race, for the record waiting then and for every one after while it stays so."""
    buffer = Buffer(maxsize=1)
    deliver = deliver_eagerly(buffer.on_message)
    suspend_flow = asyncio.Event()
    started: list[int] = []

    async def wait_any() -> bool:
        started.append(1)
        return await suspend_flow.wait()

    watch = FlowWatch(wait_any)
    deliver(0)
    for n in (1, 2, 3):  # each blocks, then room is made
        rest = deliver(n)
        assert isinstance(rest, Remainder)
        finishing = asyncio.ensure_future(finish_blocked(rest, watch.current()))
        await asyncio.sleep(0)
        buffer.queue.get_nowait()
        assert await finishing == (True, f"delivered {n}")
    assert len(started) == 1
    blocked = deliver(4)
    assert isinstance(blocked, Remainder)
    finishing = asyncio.ensure_future(finish_blocked(blocked, watch.current()))
    await asyncio.sleep(0)
    suspend_flow.set()  # a rebalance starts while record 4 waits for room
    assert await finishing == (False, None)
    await asyncio.sleep(0)
    assert buffer.cancelled == [4]
    later = deliver(5)
    assert isinstance(later, Remainder)
    assert await finish_blocked(later, watch.current()) == (False, None)  # still suspended
    await asyncio.sleep(0)
    assert buffer.cancelled == [4, 5] and len(started) == 2
    assert buffer.queue.qsize() == 1 and buffer.queue.get_nowait() == 3
