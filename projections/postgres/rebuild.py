"""Recompute every projection from the event log (the source of truth) into fresh tables and
swap them in atomically, while the live worker keeps running.

1. Fresh ``*_rebuild`` tables are filled from a consistent snapshot of ``event_log`` (a
   REPEATABLE READ transaction streaming it asset by asset), folded with the same pure code as
   the worker.
2. Catch-up and swap, in one short transaction: lock ``event_log`` in SHARE mode (waits for the
   worker's batch in flight, holds back the next), then the projection tables; re-fold the few
   assets whose events arrived after the snapshot; rename the fresh tables into place. The
   lock order matches the worker's, so the two cannot deadlock; the worker just waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from events.models import LifecycleEvent
from projections import event_rows, state_rows
from projections.asset_state import AssetState, fold
from projections.carbon import FactorTable
from projections.kpi_facts import Contribution, SavingRow, add_into, facts, without_zeros
from projections.postgres import kpi_store
from projections.postgres.connection import Connection
from projections.postgres.writer import SELECT_HISTORIES, upsert_states_sql
from projections.tenant_settings import SettingsTimeline

TABLES = ("asset_state", "kpi_monthly", "carbon_savings")
SUFFIX = kpi_store.REBUILD_SUFFIX
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RebuildResult:
    events: int
    assets: int
    caught_up_assets: int


async def _create_fresh(conn: Connection) -> None:
    for table in TABLES:
        await conn.execute(f"DROP TABLE IF EXISTS {table}{SUFFIX}")
        await conn.execute(f"CREATE TABLE {table}{SUFFIX} (LIKE {table} INCLUDING ALL)")
    # LIKE copies no storage parameters: the fresh asset states keep room for HOT updates
    # (migration 0012)
    await conn.execute(f"ALTER TABLE asset_state{SUFFIX} SET (fillfactor = 70)")


async def rebuild(
    dsn_connect: Callable[[], Any],
    table: FactorTable,
    progress: Progress | None = None,
    batch_assets: int = 2000,
) -> RebuildResult:
    """``dsn_connect`` opens a new connection (two are used: a snapshot reader, a writer)."""
    reader: Connection = await dsn_connect()
    writer: Connection = await dsn_connect()
    try:
        await _create_fresh(writer)
        settings = await kpi_store.tenant_settings(
            writer,
            [
                r["tenant_id"]
                for r in await writer.fetch("SELECT DISTINCT tenant_id FROM event_log")
            ],
        )
        events = assets = 0
        totals: Contribution = {}
        pending: list[AssetState] = []

        async def flush() -> None:
            if not pending:
                return
            await writer.execute(upsert_states_sql(SUFFIX), *state_rows.to_columns(pending))
            savings: list[SavingRow] = []
            for s in pending:
                f = facts(s, settings.get(s.tenant_id, SettingsTimeline()), table)
                add_into(totals, f.aggregates)
                savings.extend(f.savings)
            await kpi_store.insert_savings(writer, savings, SUFFIX)
            pending.clear()

        async with reader.transaction(isolation="repeatable_read", readonly=True):
            current: tuple[str, str] | None = None
            history: list[LifecycleEvent] = []
            async for row in reader.cursor(
                "SELECT * FROM event_log ORDER BY tenant_id, asset_id", prefetch=5000
            ):
                key = (row["tenant_id"], row["asset_id"])
                if key != current and history:
                    state = fold(history)
                    assert state is not None
                    pending.append(state)
                    assets += 1
                    history = []
                    if len(pending) >= batch_assets:
                        await flush()
                current = key
                history.append(event_rows.from_row(row))
                events += 1
                if progress and events % 5000 == 0:
                    progress(5000)
            if history:
                state = fold(history)
                assert state is not None
                pending.append(state)
                assets += 1
            await flush()
        if progress:
            progress(events % 5000)
        await kpi_store.add(writer, without_zeros(totals), SUFFIX)
        caught_up = await _catch_up_and_swap(writer, table)
        return RebuildResult(events, assets, caught_up)
    finally:
        await reader.close()
        await writer.close()


async def _catch_up_and_swap(conn: Connection, table: FactorTable) -> int:
    async with conn.transaction():
        await conn.execute("LOCK TABLE event_log IN SHARE MODE")
        await conn.execute(
            "LOCK TABLE asset_state, kpi_monthly, carbon_savings IN ACCESS EXCLUSIVE MODE"
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
            await conn.execute(upsert_states_sql(SUFFIX), *state_rows.to_columns(new))
            await kpi_store.apply_changes(conn, old, new, table, SUFFIX)
        for name in TABLES:
            await conn.execute(f"ALTER TABLE {name} RENAME TO {name}_replaced")
            await conn.execute(f"ALTER TABLE {name}{SUFFIX} RENAME TO {name}")
            await conn.execute(f"DROP TABLE {name}_replaced")
    return len(keys)
