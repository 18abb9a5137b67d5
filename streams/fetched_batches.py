"""Hand the agent what the consumer fetched as whole batches, not one record at a time.

faust-streaming delivers a fetch record by record: each record becomes a Faust Message and
Event, is tracked, put into the stream's queue, taken out by the stream's iterator, buffered
by ``take_events`` and acknowledged one by one when the agent asks for the next batch.
kretslopp's agent only ever wanted the batch. Profiled on the 2-core machine (py-spy, the
Faust worker on 200k events, Tansu), that per-record path was a fifth of the worker
process's samples after the earlier savings (``docs/operations.md``, "Faust"): 5,540 events/s
before, 8,169 after, 300k events, same machine, one after the other.

So the consumer's fetch loop (``streams.consumer``) turns each fetch into one list of
:class:`~projections.batch.SourceRecord` and puts it here; the agent takes batches of at most
``size`` records, waiting at most ``within`` seconds to fill one.

**Nothing fetched is dropped**, except a record below the partition's read offset (a fetch
from before a seek back, whose records PostgreSQL holds already). Faust's loop dropped a
record whose delivery raced a rebalance; a first version of this module dropped a whole fetch
when the group's generation had changed while it was fetched. That lost records: a fetch made
*after* the rebalance's seek is not read again, and the writer's checkpoint then moved past it
(``tests/integration/test_faults.py``, three workers, one killed: 5,500 of 6,000 applied).
Delivering is always safe: every seek goes to an offset PostgreSQL holds (its checkpoint, or
a Kafka offset committed after PostgreSQL had the batch), so a record read twice is skipped
below the checkpoint, and one of a partition that moved to another worker is applied once
under the asset locks, whichever worker writes it first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping
from typing import Any

from projections.batch import SourceRecord


def fresh_records(
    fetched: Mapping[Any, Iterable[Any]],
    topic: str,
    read_offsets: MutableMapping[Any, int | None],
) -> list[SourceRecord]:
    """The records of one fetch the agent must see, in partition order, and the read offsets
    moved past them: Faust's read-offset check, made once per partition. A record below the
    last one read is dropped (a fetch from before a seek back: PostgreSQL holds it); the one at
    it is kept (Faust's ``offset >= read offset``; the batch deduplicates coordinates).
    Faust also skipped the records of a partition paused meanwhile; they are kept here, as
    nothing that is not read again may be dropped."""
    out: list[SourceRecord] = []
    for tp, records in fetched.items():
        if tp.topic != topic:
            raise RuntimeError(f"fetched records of {tp.topic!r}; this worker reads {topic!r}")
        read = read_offsets[tp]
        last = None
        partition = tp.partition
        for record in records:
            offset = record.offset
            if read is None or offset >= read:
                out.append(SourceRecord(partition, offset, record.key, record.value))
                last = offset
        if last is not None:
            read_offsets[tp] = last
    return out


class FetchedBatches:
    """Fetches waiting for the agent: at most ``depth`` of them, so a writer that falls
    behind holds back the fetch loop (and aiokafka's prefetch) instead of filling memory."""

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._queue: asyncio.Queue[list[SourceRecord]] = asyncio.Queue(depth)

    async def put(self, records: list[SourceRecord]) -> None:
        """Queue one fetch; waits while ``depth`` fetches are waiting. Never drops one."""
        if records:
            await self._queue.put(records)

    async def batches(self, size: int, within: float) -> AsyncIterator[list[SourceRecord]]:
        """Batches of at most ``size`` records: a batch is handed on when it is full, or
        ``within`` seconds after its first record arrived (``take_events``'s contract)."""
        if size < 1:
            raise ValueError("size must be at least 1")
        pending: list[SourceRecord] = []
        queue = self._queue
        while True:
            if not pending:
                pending = await queue.get()
            deadline = time.monotonic() + within
            while len(pending) < size:
                if queue.empty():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        more = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                else:
                    more = queue.get_nowait()
                pending.extend(more)
            batch, pending = pending[:size], pending[size:]
            yield batch
