"""Write batch N to PostgreSQL while batch N+1 is gathered.

An agent that writes inside its loop gathers and writes one after the other (measured with
Faust's ``take_events``: a third of the worker's wall time was the agent waiting for its next
batch). Handing each batch to one writer task lets the two overlap; batches are still written
one at a time, in order. ``depth`` bounds what is held in memory: one batch being written,
``depth`` waiting. Nothing is acknowledged to Kafka before it is written
(``streams.consumer.KretsloppConsumer.written``), and PostgreSQL, not Kafka, holds the
position: every assigned partition resumes at its checkpoint
(``streams.app.resume_at_checkpoints``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class WriterStopped(RuntimeError):
    """The writer task ended; nothing more can be written (its exception is the cause)."""


class WriteAhead(Generic[T]):
    def __init__(
        self,
        write: Callable[[T], Awaitable[object]],
        depth: int = 1,
        on_failure: Callable[[BaseException], object] | None = None,
    ) -> None:
        """``on_failure`` is called as soon as a write fails. The next ``put`` raises too,
        but the stream may never deliver another batch (the fault suite caught a worker
        waiting for records with its writer dead), so the owner must hear of it at once."""
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._write = write
        self._on_failure = on_failure
        self._queue: asyncio.Queue[T] = asyncio.Queue(depth)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WriteAhead[T]:
        self._task = asyncio.create_task(self._run(), name="kretslopp-writer")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None:
            return
        if exc_type is None:
            await self.drain()  # a normal end writes what is queued
        task.cancel()
        # a writer that failed has already stopped the agent through WriterStopped
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def put(self, batch: T) -> None:
        """Queue a batch; waits while ``depth`` batches are already waiting."""
        task = self._require_running()
        if not self._queue.full():
            self._queue.put_nowait(batch)
            return
        putting = asyncio.ensure_future(self._queue.put(batch))
        await asyncio.wait({putting, task}, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            self._require_running()

    async def drain(self) -> None:
        """Wait until every queued batch is written."""
        task = self._require_running()
        joining = asyncio.ensure_future(self._queue.join())
        await asyncio.wait({joining, task}, return_when=asyncio.FIRST_COMPLETED)
        if not joining.done():
            joining.cancel()
            self._require_running()

    def _require_running(self) -> asyncio.Task[None]:
        task = self._task
        if task is None:
            raise RuntimeError("use WriteAhead in `async with`")
        if task.done():
            cause = None if task.cancelled() else task.exception()
            raise WriterStopped("the batch writer stopped") from cause
        return task

    async def _run(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                await self._write(batch)
            except Exception as exc:
                if self._on_failure is not None:
                    self._on_failure(exc)
                raise
            finally:
                self._queue.task_done()
