"""Decode, dead-letter and write one batch; never raise on bad data, never drop a batch.

The Faust agent hands each batch here. Order of work per batch:
1. decode and validate every record (pure: ``projections.batch.prepare``);
2. publish undecodable / invalid records to the dead-letter topic (awaited, so they are on the
   broker before the offsets that carried them can be acknowledged);
3. write events, projections, dead letters and checkpoints in one PostgreSQL transaction,
   retrying with backoff while PostgreSQL is unreachable (nothing is acknowledged meanwhile);
   the worker's write lanes (``streams.write_lanes``) call this for batches of disjoint
   partitions side by side, each on its own connection;
4. if PostgreSQL *rejects* the batch (not a connection problem), retry record by record and
   dead-letter only the record it rejects, so one bad record cannot stall a partition.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass

import asyncpg
import structlog

from infra import faults
from infra.settings import Settings
from projections.batch import Batch, DeadLetter, SourceRecord, prepare
from projections.carbon import factor_table
from projections.postgres import checkpoints, kpi_store
from projections.postgres.checkpoints import CheckpointWentBack
from projections.postgres.connection import TRANSIENT_DB_ERRORS, create_pool
from projections.postgres.migrate import migrate
from projections.postgres.writer import BatchOutcome, apply_batch
from projections.state_cache import StateCache
from streams.metrics import WorkerMetrics
from streams.retry import with_backoff

log = structlog.get_logger(__name__)

PublishDeadLetters = Callable[[list[DeadLetter]], Awaitable[None]]


@dataclass(slots=True)
class Totals:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    below_checkpoint: int = 0


class Projector:
    def __init__(
        self,
        settings: Settings,
        publish_dead_letters: PublishDeadLetters | None = None,
        metrics: WorkerMetrics | None = None,
        highwater: Callable[[int], int | None] = lambda partition: None,
    ) -> None:
        _, self._dsn = settings.require_endpoints()
        self._group = settings.consumer_group
        self._lanes = settings.writer_lanes
        self.topic = settings.topic
        self._table = factor_table(settings.factor_source)
        self._publish = publish_dead_letters
        self._metrics = metrics
        self._highwater = highwater
        self._pool: asyncpg.Pool | None = None
        self._cache = StateCache()  # the states this worker wrote (projections.state_cache)
        # the highest checkpoint of each partition this worker read or wrote: PostgreSQL
        # holding less means it lost batches (checkpoints.CheckpointWentBack)
        self._seen: dict[int, int] = {}
        self._started = asyncio.Lock()
        self.totals = Totals()

    async def start(self) -> None:
        async with self._started:
            if self._pool is not None:
                return

            async def connect_and_migrate() -> asyncpg.Pool:
                # one connection per write lane (streams.write_lanes: ``handle`` runs once per
                # lane at a time), and one for the checkpoint reads of a rebalance
                pool = await create_pool(self._dsn, min_size=1, max_size=self._lanes + 1)
                async with pool.acquire() as conn:
                    await migrate(conn)
                    await kpi_store.ensure_model(
                        conn,
                        self._table,
                        f"worker on {socket.gethostname()} "
                        f"(KRETSLOPP_FACTOR_SOURCE={self._table.source})",
                    )
                return pool

            # Any failure is retried here, not only connection errors: a database that does not
            # exist yet or refuses our role may be fixed while we wait; we hold the batch.
            self._pool = await with_backoff(
                "connect to PostgreSQL", connect_and_migrate, transient=(Exception,)
            )
            log.info("projector ready", consumer_group=self._group, topic=self.topic)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def next_offsets(self, partitions: list[int]) -> dict[int, int]:
        """The checkpoint of each partition; 0 where nothing was ever applied."""
        await self.start()

        async def read() -> dict[int, int]:
            assert self._pool is not None
            async with self._pool.acquire() as conn:
                return await checkpoints.next_offsets(conn, self._group, self.topic, partitions)

        return await with_backoff("read checkpoints", read)

    def seen(self) -> dict[int, int]:
        """A copy of the highest checkpoints this worker read or wrote. Take it *before*
        reading checkpoints to resume at: a batch committed between the read and the check
        raises what was seen above the value read (the fault suite caught that race)."""
        return dict(self._seen)

    def resume_at(
        self,
        offsets: dict[int, int],
        reset: Set[int] = frozenset(),
        seen_before: dict[int, int] | None = None,
    ) -> None:
        """The worker resumes these partitions at these checkpoints (read when they were
        assigned). Raises ``CheckpointWentBack`` where one is below what this worker saw
        before; ``reset``: partitions whose checkpoints the worker itself set back (a
        recreated topic), which may go down."""
        checkpoints.require_not_behind(
            {p: o for p, o in offsets.items() if p not in reset},
            self._seen if seen_before is None else seen_before,
        )
        for p, o in offsets.items():
            self._seen[p] = o if p in reset else max(o, self._seen.get(p, 0))

    async def forget_checkpoints(self, partitions: list[int]) -> dict[int, int]:
        await self.start()

        async def reset() -> dict[int, int]:
            assert self._pool is not None
            async with self._pool.acquire() as conn:
                return await checkpoints.reset(conn, self._group, self.topic, partitions)

        return await with_backoff("reset checkpoints", reset)

    async def handle(self, records: list[SourceRecord]) -> BatchOutcome:
        await self.start()
        started = time.perf_counter()
        batch = prepare(records)
        for dead in batch.dead_letters:
            log.warning(
                "dead letter",
                partition=dead.record.partition,
                offset=dead.record.offset,
                reason_kind=dead.kind,
                field=dead.field,
                reason=dead.reason,
            )
        if batch.dead_letters and self._publish is not None:
            await self._publish(batch.dead_letters)
        faults.reached("writer")
        try:
            outcome = await self._write(batch)
        except CheckpointWentBack:
            raise  # not the batch's fault: the worker must restart (streams.app)
        except Exception as exc:  # rejected by PostgreSQL, or a bug: isolate the record
            log.error("batch rejected; retrying record by record", error=repr(exc))
            outcome = await self._write_one_by_one(batch)
        faults.reached("after_commit")
        self._count(outcome)
        if self._metrics is not None:
            self._metrics.observe(
                len(records), batch, outcome, time.perf_counter() - started, self._highwater
            )
        log.info(
            "batch applied",
            records=len(records),
            applied=outcome.applied,
            duplicates=outcome.duplicates,
            dead_letters=outcome.dead_letters,
            below_checkpoint=outcome.below_checkpoint,
            refolded_assets=outcome.refolded_assets,
            partitions=batch.partitions,
        )
        return outcome

    async def _write(
        self, batch: Batch, transient: tuple[type[BaseException], ...] = TRANSIENT_DB_ERRORS
    ) -> BatchOutcome:
        async def attempt() -> BatchOutcome:
            assert self._pool is not None
            async with self._pool.acquire() as conn:
                return await apply_batch(
                    conn, self._group, self.topic, batch, self._table, self._cache, self._seen
                )

        outcome = await with_backoff(
            "write batch to PostgreSQL",
            attempt,
            transient=transient,
            fatal=(CheckpointWentBack,),
        )
        for p, offset in batch.max_offsets().items():
            self._seen[p] = max(offset + 1, self._seen.get(p, 0))
        return outcome

    async def _write_one_by_one(self, batch: Batch) -> BatchOutcome:
        """Each record alone, in offset order; a record PostgreSQL still rejects becomes a
        dead letter with the error as its reason, whether it was an event or already a dead
        letter. Never raises for a record: every record ends applied or dead-lettered."""
        total = BatchOutcome.empty()
        singles: list[Batch] = [Batch(dead_letters=[d]) for d in batch.dead_letters]
        singles += [Batch(events=[e]) for e in batch.events]
        singles.sort(key=lambda b: (b.partitions[0], next(iter(b.max_offsets().values()))))
        for single in singles:
            try:
                outcome = await self._write(single)
            except CheckpointWentBack:
                raise
            except Exception as exc:
                outcome = await self._dead_letter_rejected(single, exc)
            total += outcome
        return total

    async def _dead_letter_rejected(self, single: Batch, exc: Exception) -> BatchOutcome:
        context: dict[str, object] = {}
        event_id = None
        if single.events:
            item = single.events[0]
            event_id = item.event.event_id
            record = item.record
            context = {
                "tenant_id": item.event.tenant_id,
                "asset_id": item.event.asset_id,
                "event_id": str(item.event.event_id),
            }
        else:
            record = single.dead_letters[0].record
        log.error(
            "record rejected by PostgreSQL; dead-lettered",
            partition=record.partition,
            offset=record.offset,
            error=repr(exc),
            **context,
        )
        letter = DeadLetter(
            record, "rejected_by_database", None, f"{type(exc).__name__}: {exc}", event_id
        )
        if self._publish is not None:
            await self._publish([letter])
        # The last resort holds the partition rather than skip the record: a dead letter of
        # plain bytes and clean text is always storable, so only an outage can fail it.
        return await self._write(Batch(dead_letters=[letter]), transient=(Exception,))

    def _count(self, outcome: BatchOutcome) -> None:
        self.totals.batches += 1
        self.totals.applied += outcome.applied
        self.totals.duplicates += outcome.duplicates
        self.totals.dead_letters += outcome.dead_letters
        self.totals.below_checkpoint += outcome.below_checkpoint
