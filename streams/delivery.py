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
moves on; when it blocks, the rest of it goes through the original ``wait_first`` race.
"""

from __future__ import annotations

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
