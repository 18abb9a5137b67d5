"""Recompute every projection from the event log (the source of truth) into fresh tables and
swap them in atomically, while the live worker keeps running.

1. Fresh ``*_rebuild`` tables are filled from a consistent snapshot of ``event_log`` (a
   REPEATABLE READ transaction exports it; one process per part streams its range of assets
   in that snapshot, asset by asset), folded with the same pure code as the worker and
   written with binary COPY while the next assets are read. Measured on 300k events of the
   bench's fleet, 2-core machine: 30.6k events/s before (one reader, upserts); one part with
   COPY 34.6k; two parts 43.6k (each part is CPU-bound in Python: ~27 us per event, a third
   of it validating the stored event again). Then 41.1k -> 46.9k with two parts (three
   alternating pairs, 300k events): the fold through a mutable draft and cheaper contract
   validators (the ~17 us of validation then measured was mostly the collector scanning a
   loop's live events: ~5 us in a part's process, README "Performance").
   Then 67.1k -> 70.4k (three alternating pairs, 300k events, 2 parts): rows fetched
   5,000 at a time instead of one by one, no upcaster call for rows at the current version.
   The fresh tables get the live tables' indexes once their rows are in (sorted builds,
   ~0.1 s on 300k events), under temporary names; the swap gives them the live names.
2. Catch-up and swap, in one short transaction: lock ``event_log`` in SHARE mode (waits for the
   worker's batch in flight, holds back the next), then the projection tables; re-fold the few
   assets whose events arrived after the snapshot; rename the fresh tables into place. The
   lock order matches the worker's, so the two cannot deadlock; the worker just waits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from events.models import LifecycleEvent
from projections import asset_counts, event_rows, state_rows
from projections.asset_state import AssetState, fold
from projections.carbon import FactorTable
from projections.kpi_facts import Contribution, SavingRow, add_into, facts, without_zeros
from projections.postgres import kpi_store
from projections.postgres.connection import Connection, connect, use_binary_jsonb
from projections.postgres.writer import SELECT_HISTORIES, upsert_states_sql
from projections.tenant_settings import SettingsTimeline

TABLES = ("asset_state", "kpi_monthly", "carbon_savings", "asset_counts")
SUFFIX = kpi_store.REBUILD_SUFFIX
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RebuildResult:
    events: int
    assets: int
    caught_up_assets: int


async def _create_fresh(conn: Connection) -> None:
    """Fresh tables without indexes: the parts COPY into bare heaps, and the indexes are built
    once, sorted, when the rows are all in (:func:`_index_fresh`)."""
    for table in TABLES:
        await conn.execute(f"DROP TABLE IF EXISTS {table}{SUFFIX}")
        await conn.execute(
            f"CREATE TABLE {table}{SUFFIX} (LIKE {table} INCLUDING ALL EXCLUDING INDEXES)"
        )


@dataclass(frozen=True)
class FreshIndex:
    """An index of a live projection table, made again on its fresh table under a temporary
    name and given the live name at the swap: a later migration finds an index by the name
    it was created with (0004 and 0013 drop indexes by name), so a rebuild must not leave
    ``LIKE``'s generated names behind (it did: ``asset_state_rebuild_pkey`` and the like)."""

    table: str
    name: str  # the live index's name, kept
    fresh_name: str  # on the fresh table until the swap
    create: str  # the DDL that makes it on the fresh table


_INDEX_DDL = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ (USING .*)$", re.DOTALL)


async def _fresh_indexes(conn: Connection) -> list[FreshIndex]:
    """Every index of the live tables, as DDL for the fresh ones: a primary key as the
    constraint (its index follows), any other index from its own definition."""
    rows = await conn.fetch(
        """
        SELECT c.relname AS table_name, i.relname AS index_name,
               pg_get_indexdef(x.indexrelid) AS index_def,
               con.contype, pg_get_constraintdef(con.oid) AS constraint_def
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class c ON c.oid = x.indrelid
        LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = c.oid
        WHERE x.indrelid = ANY($1::regclass[])
        ORDER BY 1, 2
        """,
        list(TABLES),
    )
    found = []
    for n, r in enumerate(rows):
        table, fresh_name = r["table_name"], f"kretslopp_rebuild_index_{n}"
        if r["contype"] is not None:
            create = (
                f"ALTER TABLE {table}{SUFFIX} ADD CONSTRAINT {fresh_name} {r['constraint_def']}"
            )
        else:
            match = _INDEX_DDL.match(r["index_def"])
            if match is None:
                raise RuntimeError(f"cannot read the definition of index {r['index_name']}")
            unique, _, rest = match.groups()
            create = f"CREATE {unique or ''}INDEX {fresh_name} ON {table}{SUFFIX} {rest}"
        found.append(FreshIndex(table, r["index_name"], fresh_name, create))
    return found


class IndexesChanged(RuntimeError):
    """The live tables' indexes changed while the fresh ones were built (a migration ran):
    swapping would drop the new index with the replaced table, so nothing is swapped."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _index_fresh(connections: list[Connection], indexes: list[FreshIndex]) -> None:
    """Build the indexes, each connection taking the next one left (two connections, one per
    core: 1M events, 0.35 s; 0.42 s one after the other)."""
    left = list(indexes)

    async def build(conn: Connection) -> None:
        while left:
            await conn.execute(left.pop(0).create)

    await asyncio.gather(*(build(c) for c in connections))


@dataclass(frozen=True)
class PartResult:
    """What one part of the log folded: how many events and assets, their KPI contributions
    and their asset counts (both summed over all parts before they are written)."""

    events: int
    assets: int
    totals: Contribution
    counts: asset_counts.Counts


def default_parts() -> int:
    """One part per core, at most 4: PostgreSQL needs a core's share too, and more processes
    than cores only add start-up (each is a fresh interpreter, ~1 s)."""
    return max(1, min(4, os.cpu_count() or 1))


_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
Bound = tuple[str, str] | None  # (tenant_id, asset_id); None: open on that side


async def _ranges(conn: Connection, parts: int) -> list[tuple[Bound, Bound]]:
    """``parts`` ranges of (tenant_id, asset_id) that cover every key, each holding about as
    many of the known assets: a part reads only its range of the log's (tenant, asset) index.
    A hash of the key split the assets as evenly, but every part then scanned the whole log
    (300k events, 2 parts: 40.2k events/s with the hash, 43.6k with ranges). The boundaries
    come from the current asset states; a key they do not know still falls in one range."""
    rows = await conn.fetch(
        """
        SELECT tenant_id, asset_id FROM (
            SELECT tenant_id, asset_id,
                   row_number() OVER (ORDER BY tenant_id, asset_id) AS n,
                   count(*) OVER () AS total
            FROM asset_state
        ) s
        WHERE (n - 1) % GREATEST(total / $1, 1) = 0 AND n > 1
        ORDER BY tenant_id, asset_id
        LIMIT $1 - 1
        """,
        parts,
    )
    cuts: list[Bound] = [None, *((r["tenant_id"], r["asset_id"]) for r in rows), None]
    return [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1)]


def _range_sql(low: Bound, high: Bound) -> tuple[str, list[str]]:
    where, args = [], []
    if low is not None:
        where.append("(tenant_id, asset_id) >= ($1, $2)")
        args += list(low)
    if high is not None:
        n = len(args)
        where.append(f"(tenant_id, asset_id) < (${n + 1}, ${n + 2})")
        args += list(high)
    return (" AND ".join(where) or "true"), args


async def rebuild(
    dsn: str,
    table: FactorTable,
    progress: Progress | None = None,
    parts: int = 1,
    batch_assets: int = 2000,
) -> RebuildResult:
    """Fold the whole event log into fresh tables and swap them in.

    ``parts`` > 1 folds that many disjoint sets of assets in as many processes, all reading
    the one snapshot this transaction exports (``pg_export_snapshot``), so together they see
    exactly the log one reader would. Each asset is in one part (a range of tenant and asset),
    and every KPI aggregate is the sum of the parts' contributions, written once."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    snapshot_holder = await connect(dsn)
    writer = await connect(dsn)
    try:
        await _create_fresh(writer)
        async with snapshot_holder.transaction(isolation="repeatable_read", readonly=True):
            snapshot = str(await snapshot_holder.fetchval("SELECT pg_export_snapshot()"))
            # every tenant with settings, as of the snapshot (the others use the defaults)
            settings = await kpi_store.tenant_settings(
                snapshot_holder,
                [
                    r["tenant_id"]
                    for r in await snapshot_holder.fetch(
                        "SELECT DISTINCT tenant_id FROM tenant_settings_history"
                    )
                ],
            )
            ranges: list[tuple[Bound, Bound]] = [(None, None)]
            if parts > 1:
                ranges = await _ranges(snapshot_holder, parts)
            jobs = [
                PartJob(dsn, snapshot, low, high, table, settings, batch_assets)
                for low, high in ranges
            ]
            if len(jobs) == 1:
                results = [await fold_part(jobs[0], progress)]
            else:
                results = await _in_processes(jobs, progress)
        totals: Contribution = {}
        counts: asset_counts.Counts = {}
        for result in results:
            add_into(totals, result.totals)
            asset_counts.add_into(counts, result.counts)
        await kpi_store.copy_into_fresh(
            writer, without_zeros(totals), asset_counts.without_zeros(counts)
        )
        indexes = await _fresh_indexes(writer)
        await _index_fresh([writer, snapshot_holder], indexes)
        caught_up = await _catch_up_and_swap(writer, table, indexes)
        return RebuildResult(
            sum(r.events for r in results), sum(r.assets for r in results), caught_up
        )
    finally:
        await snapshot_holder.close()
        await writer.close()


@dataclass(frozen=True)
class PartJob:
    """One part of a rebuild: the assets from ``low`` (included) to ``high`` (excluded), as
    of ``snapshot``; sent to the part's process as it is (it pickles)."""

    dsn: str
    snapshot: str
    low: Bound
    high: Bound
    table: FactorTable
    settings: dict[str, SettingsTimeline]
    batch_assets: int = 2000


async def _in_processes(jobs: list[PartJob], progress: Progress | None) -> list[PartResult]:
    """One process per part (spawned: no inherited connections or event loop). Progress comes
    back through a shared counter, read here every 0.2 s."""
    context = multiprocessing.get_context("spawn")
    folded = context.Value("q", 0)
    with ProcessPoolExecutor(
        max_workers=len(jobs), mp_context=context, initializer=_share_counter, initargs=(folded,)
    ) as pool:
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(pool, _fold_part_process, job) for job in jobs]
        reported = 0
        waiting = asyncio.gather(*futures)
        while not waiting.done():
            await asyncio.wait([waiting], timeout=0.2)
            if progress is not None:
                now = int(folded.value)
                if now > reported:
                    progress(now - reported)
                    reported = now
        results = waiting.result()
        if progress is not None and int(folded.value) > reported:
            progress(int(folded.value) - reported)
        return list(results)


_counter: Any = None


def _share_counter(counter: Any) -> None:
    global _counter
    _counter = counter


def _fold_part_process(job: PartJob) -> PartResult:
    from infra.garbage_collection import tune_for_throughput

    tune_for_throughput()

    def advance(n: int) -> None:
        with _counter.get_lock():
            _counter.value += n

    return asyncio.run(fold_part(job, advance))


async def fold_part(job: PartJob, progress: Progress | None = None) -> PartResult:
    """Fold one part into the fresh tables: a reader streams it asset by asset, a writer COPYs
    the states and savings while the next assets are read and folded (one write in flight)."""
    dsn, snapshot, table, settings = job.dsn, job.snapshot, job.table, job.settings
    if not _SNAPSHOT_ID.match(snapshot):  # SET TRANSACTION SNAPSHOT takes no parameter
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    reader = await connect(dsn)
    writer = await connect(dsn)
    try:
        await use_binary_jsonb(writer)
        events = assets = 0
        totals: Contribution = {}
        counts: asset_counts.Counts = {}
        pending: list[AssetState] = []
        writing: asyncio.Task[None] | None = None

        async def write(states: list[AssetState], savings: list[SavingRow]) -> None:
            # Binary COPY: the fresh tables hold each asset once, so nothing to upsert.
            await writer.copy_records_to_table(
                f"asset_state{SUFFIX}",
                records=state_rows.to_records(states),
                columns=list(state_rows.COLUMNS),
            )
            await writer.copy_records_to_table(
                f"carbon_savings{SUFFIX}",
                records=[row.as_record() for row in savings],
                columns=list(SavingRow.COPY_COLUMNS),
            )

        async def flush() -> None:
            nonlocal writing
            if not pending:
                return
            states = list(pending)
            pending.clear()
            savings: list[SavingRow] = []
            for s in states:
                f = facts(s, settings.get(s.tenant_id, SettingsTimeline()), table)
                add_into(totals, f.aggregates)
                savings.extend(f.savings)
            asset_counts.add_into(counts, asset_counts.one_pass(states))
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(states, savings))

        async with reader.transaction(isolation="repeatable_read", readonly=True):
            await reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            current: tuple[str, str] | None = None
            history: list[LifecycleEvent] = []
            where, args = _range_sql(job.low, job.high)
            rows = await reader.cursor(
                f"SELECT {event_rows.COLUMNS} FROM event_log WHERE {where} "
                "ORDER BY tenant_id, asset_id",
                *args,
            )
            # 5,000 rows a fetch, looped over here: ``async for`` on the cursor paid ~2 us a
            # row in asyncpg's per-row checks (cProfile, 300k events)
            while chunk := await rows.fetch(5000):
                for row in chunk:
                    key = (row["tenant_id"], row["asset_id"])
                    if key != current and history:
                        state = fold(history)
                        assert state is not None
                        pending.append(state)
                        assets += 1
                        history = []
                        if len(pending) >= job.batch_assets:
                            await flush()
                    current = key
                    history.append(event_rows.from_row(row))
                events += len(chunk)
                if progress:
                    progress(len(chunk))
            if history:
                state = fold(history)
                assert state is not None
                pending.append(state)
                assets += 1
            await flush()
            if writing is not None:
                await writing
        return PartResult(events, assets, totals, counts)
    finally:
        await reader.close()
        await writer.close()


async def _catch_up_and_swap(
    conn: Connection, table: FactorTable, indexes: list[FreshIndex]
) -> int:
    async with conn.transaction():
        await conn.execute("LOCK TABLE event_log IN SHARE MODE")
        await conn.execute(
            "LOCK TABLE asset_state, kpi_monthly, carbon_savings, asset_counts "
            "IN ACCESS EXCLUSIVE MODE"
        )
        # under the lock, the live indexes are final: the fresh tables must have the same
        if await _fresh_indexes(conn) != indexes:
            raise IndexesChanged(
                "the projection tables' indexes changed during the rebuild (a migration ran?); "
                "nothing was swapped: run the rebuild again"
            )
        stale = await conn.fetch(
            f"""
            SELECT l.tenant_id, l.asset_id FROM (
                SELECT tenant_id, asset_id, count(*) AS n FROM event_log GROUP BY 1, 2
            ) l LEFT JOIN asset_state{SUFFIX} r USING (tenant_id, asset_id)
            WHERE r.event_count IS DISTINCT FROM l.n
            """
        )
        keys = [(r["tenant_id"], r["asset_id"]) for r in stale]
        if keys:
            old = [
                state_rows.from_row(r)
                for r in await conn.fetch(
                    f"SELECT s.* FROM asset_state{SUFFIX} s JOIN unnest($1::text[], $2::text[])"
                    " AS k(tenant_id, asset_id) USING (tenant_id, asset_id)",
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                )
            ]
            histories: dict[tuple[str, str], list[LifecycleEvent]] = {}
            for row in await conn.fetch(
                SELECT_HISTORIES, [k[0] for k in keys], [k[1] for k in keys]
            ):
                histories.setdefault((row["tenant_id"], row["asset_id"]), []).append(
                    event_rows.from_row(row)
                )
            new = [s for s in (fold(h) for h in histories.values()) if s is not None]
            await conn.execute(upsert_states_sql(SUFFIX), state_rows.to_tuples(new))
            await kpi_store.apply_changes(conn, old, new, table, SUFFIX)
        for name in TABLES:
            await conn.execute(f"ALTER TABLE {name} RENAME TO {name}_replaced")
            await conn.execute(f"ALTER TABLE {name}{SUFFIX} RENAME TO {name}")
            await conn.execute(f"DROP TABLE {name}_replaced")
        for index in indexes:  # the live names are free now that their tables are dropped
            await conn.execute(f"ALTER INDEX {index.fresh_name} RENAME TO {_ident(index.name)}")
    return len(keys)
