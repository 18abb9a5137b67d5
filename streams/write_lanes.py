"""A worker's batches written side by side, in lanes of whole partitions.

One batch at a time left the worker process and PostgreSQL idle in turn: the worker ran at
~70 % of a core and the machine at ~107 % of its two, because a batch's critical path is this
process's Python (decode, fold, KPI facts, encoding) and then PostgreSQL's statements, one
after the other. With lanes, PostgreSQL works on one lane's transaction while this process
prepares another's.

A partition keeps the lane it was first given for the life of the process, and each lane is
a :class:`WriteAhead`: batches written one at a time, in order. So a partition's records are
written in the order they were fetched, by one transaction at a time, and its checkpoint only
moves forward; a fetched batch with partitions of several lanes is split between them. A new
partition goes to the lane holding the fewest partitions: ``p % lanes`` put all of a worker's
partitions in one lane when a round-robin assignment gave it 0, 2, 4 and 6. Lanes of one
worker are as safe as that many workers (``docs/operations.md``, "How exactly-once effect is made"):
each transaction holds whole partitions with their checkpoints, and asset and tenant locks
are taken in one global order (``projections.postgres.locks``). Each lane acknowledges its
own partitions to Kafka once they are written (``KretsloppConsumer.written`` moves each
partition's offset forward only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType

from projections.batch import SourceRecord
from streams.write_ahead import WriteAhead


class WriteLanes:
    def __init__(
        self,
        write: Callable[[list[SourceRecord]], Awaitable[object]],
        lanes: int,
        depth: int = 1,
        on_failure: Callable[[BaseException], object] | None = None,
    ) -> None:
        """``write`` runs in up to ``lanes`` tasks at once, never twice at once for one lane;
        ``depth`` and ``on_failure`` are each lane's (:class:`WriteAhead`)."""
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        self._lanes = [WriteAhead(write, depth, on_failure) for _ in range(lanes)]
        self._stack = AsyncExitStack()
        self._lane_of: dict[int, int] = {}
        self._partitions_in = [0] * lanes

    def lane_of(self, partition: int) -> int:
        """The partition's lane: the one it was first given, so that no two lanes ever hold
        it; a new partition goes to the lane holding the fewest."""
        lane = self._lane_of.get(partition)
        if lane is None:
            counts = self._partitions_in
            lane = min(range(len(counts)), key=lambda i: (counts[i], i))
            self._lane_of[partition] = lane
            counts[lane] += 1
        return lane

    async def __aenter__(self) -> WriteLanes:
        async with AsyncExitStack() as stack:
            for lane in self._lanes:
                await stack.enter_async_context(lane)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    async def put(self, records: list[SourceRecord]) -> None:
        """Queue each lane's share of the batch; waits while that lane has ``depth`` batches
        waiting (memory stays bounded). Raises ``WriterStopped`` if that lane failed."""
        if len(self._lanes) == 1:
            await self._lanes[0].put(records)
            return
        shares: dict[int, list[SourceRecord]] = {}
        for record in records:
            shares.setdefault(self.lane_of(record.partition), []).append(record)
        for lane, share in sorted(shares.items()):
            await self._lanes[lane].put(share)

    async def drain(self) -> None:
        """Wait until every lane has written what it was given."""
        for lane in self._lanes:
            await lane.drain()
