"""Hand each fetched record to the agent's stream without four asyncio tasks per record.

faust-streaming 0.15.3's consumer loop delivers every record with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: ``mode``'s
``wait_first`` wraps that coroutine, the suspend event and the service's stopped and crashed
events in four tasks and an ``asyncio.wait``. Measured on the 2-core machine: 78 us per record
(against 0.2 us for awaiting the callback), plus garbage that kept the cyclic GC busy for 15 %
of the worker's time. That per-record cost is most of the ~6k events/s ceiling that
``docs/operations.md`` measured for a decode-only Faust agent.

The race exists for the case where delivery *blocks* - the stream buffer is full, flow is
suspended for a rebalance, or the producer buffer is over its limit: then a rebalance must win
and the record must be dropped, not delivered late into a partition we may no longer own. When
delivery does not block there is nothing to race. So the callback's first step runs at once:
nearly always it completes there (the record is in the stream buffer) and the consumer loop
moves on; when it blocks, the rest of it races the same three events (flow suspended, consumer
stopped or crashed), but through one waiter shared by every blocked record until one of them
fires (:class:`FlowWatch`): one new task per blocked record instead of four. While the writer
is the bottleneck nearly every record blocks once (the stream buffer is full), and that race
was then ~7 us per record of the ~32 us the fetch path still cost (py-spy, 300k events).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

DeliveryCallback = Callable[[Any], Awaitable[Any]]


class _Delivered:
    """What the eager callback returns when the record is already in the stream buffer."""

    __slots__ = ()


DELIVERED = _Delivered()


class Remainder:
    """The rest of a coroutine whose first step already ran and is waiting on ``pending``.

    Awaiting it resumes the coroutine where it stopped, exactly as the task that would have run
    it: values and exceptions (a cancellation) are passed through to the coroutine.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, passed on like a task would
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


def deliver_eagerly(callback: DeliveryCallback) -> Callable[[Any], Any]:
    """Run the delivery coroutine's first step now; hand back what is left of it, if anything.

    An exception in that first step is raised here, into the consumer loop, where the original
    would have raised it from ``wait_first``: the same place, the same handling.
    """

    def deliver(message: Any) -> Any:
        coro = callback(message)
        assert inspect.iscoroutine(coro)
        try:
            pending = coro.send(None)
        except StopIteration:
            return DELIVERED
        return Remainder(coro, pending)

    return deliver


class FlowWatch:
    """One future for "flow suspended, or the consumer stopped or crashed", shared by every
    blocked delivery until it completes; then the next blocked delivery starts a new one (which
    completes at once while the flow stays suspended, as Faust's own race would)."""

    def __init__(self, wait_any: Callable[[], Awaitable[object]]) -> None:
        self._wait_any = wait_any
        self._future: asyncio.Future[object] | None = None

    def current(self) -> asyncio.Future[object]:
        if self._future is None or self._future.done():
            self._future = asyncio.ensure_future(self._wait_any())
        return self._future

    def close(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.cancel()


async def finish_blocked(rest: Remainder, watch: asyncio.Future[object]) -> tuple[bool, Any]:
    """Finish a blocked delivery unless ``watch`` completes first; then it is cancelled and
    the record dropped (the partition may be another worker's now). Returns (delivered, its
    result); an error of the delivery is raised."""
    delivery = asyncio.ensure_future(rest)
    try:
        await asyncio.wait((delivery, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not delivery.done():
            delivery.cancel()
    if not delivery.done() or delivery.cancelled():
        return False, None
    return True, delivery.result()
