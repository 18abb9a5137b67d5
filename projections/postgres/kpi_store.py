"""Keep ``kpi_monthly``, ``carbon_savings`` and ``asset_counts`` in step with ``asset_state``
(asyncpg).

Called by the writer inside the batch's transaction, so KPIs move atomically with the asset
states and the checkpoint. Also recomputes everything from ``asset_state`` when the tenant
settings or the deployment's factor table change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from projections import asset_counts, state_rows
from projections.asset_state import AssetState
from projections.carbon import FACTOR_TABLES, FactorTable, FactorTableVersion
from projections.kpi_facts import (
    FACTS_VERSION,
    MEASURES,
    Contribution,
    SavingRow,
    add_into,
    fact_inputs,
    facts,
    without_zeros,
)
from projections.postgres import changes, locks
from projections.postgres.connection import Connection
from projections.state_cache import AssetKey, RowVersion, StateCache
from projections.tenant_settings import SettingsTimeline, SettingsVersion, TenantSettings

log = structlog.get_logger(__name__)

_KEY = ("tenant_id", "month", "category", "supplier", "org_unit")
_MEASURE_SELECT = ", ".join(f"COALESCE({m}, 0)" for m in MEASURES)
# Table names are constants (the live tables, or a rebuild's fresh copies), never input.
LIVE_SUFFIX = ""
REBUILD_SUFFIX = "_rebuild"


def check_suffix(suffix: str) -> str:
    if suffix not in (LIVE_SUFFIX, REBUILD_SUFFIX):
        raise ValueError(f"unknown table suffix {suffix!r}")
    return suffix


def add_to_aggregates_sql(suffix: str = LIVE_SUFFIX) -> str:
    table = f"kpi_monthly{check_suffix(suffix)}"
    updates = ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in MEASURES)
    return f"""
INSERT INTO {table} ({", ".join(_KEY)}, {", ".join(MEASURES)})
SELECT {", ".join(_KEY)}, {_MEASURE_SELECT}
FROM jsonb_populate_recordset(NULL::kpi_monthly, $1::jsonb)
ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {updates}
"""


_COUNT_COLUMNS = ("tenant_id", "category", "status", "purchase_month", "devices", "purchased_us")


def add_to_counts_sql(suffix: str = LIVE_SUFFIX) -> str:
    return f"""
INSERT INTO asset_counts{check_suffix(suffix)} AS c ({", ".join(_COUNT_COLUMNS)})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[], $6::numeric[])
ON CONFLICT (tenant_id, category, status, (COALESCE(purchase_month, '-infinity'::date)))
DO UPDATE SET devices = c.devices + EXCLUDED.devices,
              purchased_us = c.purchased_us + EXCLUDED.purchased_us
"""


def delete_savings_sql(suffix: str = LIVE_SUFFIX) -> str:
    return f"""
DELETE FROM carbon_savings{check_suffix(suffix)} s
USING unnest($1::text[], $2::text[]) AS k(tenant_id, asset_id)
WHERE s.tenant_id = k.tenant_id AND s.asset_id = k.asset_id
"""


def insert_savings_sql(suffix: str = LIVE_SUFFIX) -> str:
    return f"""
INSERT INTO carbon_savings{check_suffix(suffix)} (tenant_id, asset_id, method, month, saving_g,
    embodied_kg, data_quality, factor_source, factor_version, parameters)
SELECT tenant_id, asset_id, method, month, saving_g, embodied_kg, data_quality, factor_source,
       factor_version, parameters
FROM jsonb_populate_recordset(NULL::carbon_savings, $1::jsonb)
"""


_HISTORY_COLUMNS = "tenant_id, version, settings, effective_from, recorded_at, recorded_by, reason"


def _version(row: Any) -> SettingsVersion:
    return SettingsVersion(
        version=row["version"],
        settings=TenantSettings.model_validate(row["settings"]),
        effective_from=row["effective_from"],
        recorded_at=row["recorded_at"],
        recorded_by=row["recorded_by"],
        reason=row["reason"],
    )


async def tenant_settings(conn: Connection, tenants: Iterable[str]) -> dict[str, SettingsTimeline]:
    """Every settings version of these tenants (an empty timeline means the defaults). A batch
    reads them under its shared tenant lock (``projections.postgres.locks``), so a settings
    change and its recomputation cannot interleave with it."""
    wanted = sorted(set(tenants))
    rows = await conn.fetch(
        f"SELECT {_HISTORY_COLUMNS} FROM tenant_settings_history "
        "WHERE tenant_id = ANY($1::text[]) ORDER BY tenant_id, version",
        wanted,
    )
    found: dict[str, list[SettingsVersion]] = {}
    for r in rows:
        found.setdefault(r["tenant_id"], []).append(_version(r))
    return {t: SettingsTimeline.of(found.get(t, ())) for t in wanted}


async def settings_timeline(conn: Connection, tenant: str) -> SettingsTimeline:
    return (await tenant_settings(conn, [tenant]))[tenant]


async def apply_changes(
    conn: Connection,
    old_states: Iterable[AssetState],
    new_states: Iterable[AssetState],
    table: FactorTable,
    suffix: str = LIVE_SUFFIX,
    cache: StateCache | None = None,
    written: Mapping[AssetKey, RowVersion] | None = None,
) -> set[tuple[str, date]]:
    """Replace the contributions of changed assets. Returns the (tenant, month) of every
    aggregate row that moved. With ``cache`` (the live writer's), old facts remembered on the
    same basis are reused, and each new state is remembered with its facts under the row
    version it was ``written`` as (``projections.state_cache``)."""
    old_states, new_states = list(old_states), list(new_states)
    settings = await tenant_settings(conn, (s.tenant_id for s in old_states + new_states))
    basis = {t: (timeline.version, table.source, table.version) for t, timeline in settings.items()}
    old = []
    for s in old_states:
        known = cache.facts((s.tenant_id, s.asset_id), s, basis[s.tenant_id]) if cache else None
        old.append(known if known is not None else facts(s, settings[s.tenant_id], table))
    before = {(s.tenant_id, s.asset_id): (s, f) for s, f in zip(old_states, old, strict=True)}
    # facts kept where the event moved none of their inputs (``kpi_facts.FACT_INPUTS``)
    kept: set[AssetKey] = set()
    new = []
    for s in new_states:
        key = (s.tenant_id, s.asset_id)
        prior = before.get(key)
        if prior is not None and fact_inputs(prior[0]) == fact_inputs(s):
            kept.add(key)
            new.append(prior[1])
        else:
            new.append(facts(s, settings[s.tenant_id], table))
    if cache is not None and written is not None:
        for s, f in zip(new_states, new, strict=True):
            key = (s.tenant_id, s.asset_id)
            cache.remember(key, written[key], s, f, basis[s.tenant_id])
    total: Contribution = {}
    for s, f in zip(old_states, old, strict=True):
        if (s.tenant_id, s.asset_id) not in kept:
            add_into(total, f.aggregates, -1)
    for s, f in zip(new_states, new, strict=True):
        if (s.tenant_id, s.asset_id) not in kept:
            add_into(total, f.aggregates, +1)
    changes = without_zeros(total)
    await add(conn, changes, suffix)
    await add_counts(conn, asset_counts.delta(old_states, new_states), suffix)
    # Only the assets whose saving rows changed are rewritten: most events (a repair, a
    # reservation) move none; deleting and inserting every touched asset's rows took ~4 us
    # per event of the batch's ~65 us in SQL statements (100k events, timed per statement).
    was = {(s.tenant_id, s.asset_id): f.savings for s, f in zip(old_states, old, strict=True)}
    moved: set[AssetKey] = set(was)
    rows: list[SavingRow] = []
    for s, f in zip(new_states, new, strict=True):
        key = (s.tenant_id, s.asset_id)
        if key in kept or (key in was and was[key] == f.savings):
            moved.discard(key)
            continue
        moved.add(key)
        rows.extend(f.savings)
    await _replace_savings(conn, moved, rows, suffix)
    return {(k.tenant_id, k.month) for k in changes}


async def add(conn: Connection, changes: Contribution, suffix: str = LIVE_SUFFIX) -> None:
    if not changes:
        return
    rows = [
        {
            "tenant_id": k.tenant_id,
            "month": k.month.isoformat(),
            "category": k.category,
            "supplier": k.supplier,
            "org_unit": k.org_unit,
            **measures,
        }
        for k, measures in sorted(changes.items())  # one lock order for every writer
    ]
    await conn.execute(add_to_aggregates_sql(suffix), rows)


async def copy_into_fresh(
    conn: Connection, totals: Contribution, counts: asset_counts.Counts
) -> None:
    """A rebuild's KPI aggregates and asset counts into its fresh tables, which are empty and
    get each key once (the parts' sums are added up before): binary COPY, no upsert. 1M
    events of the bench fleet: 0.51 s through :func:`add` and :func:`add_counts`."""
    suffix = REBUILD_SUFFIX
    zeros = (0,) * len(MEASURES)  # each measure, 0 where a key has none
    await conn.copy_records_to_table(
        f"kpi_monthly{suffix}",
        records=[
            (
                k.tenant_id,
                k.month,
                k.category,
                k.supplier,
                k.org_unit,
                *map(measures.get, MEASURES, zeros),
            )
            for k, measures in totals.items()
        ],
        columns=[*_KEY, *MEASURES],
    )
    await conn.copy_records_to_table(
        f"asset_counts{suffix}",
        records=[
            (k.tenant_id, k.category, k.status, k.purchase_month, n, Decimal(purchased_us))
            for k, (n, purchased_us) in counts.items()
        ],
        columns=list(_COUNT_COLUMNS),
    )


async def add_counts(
    conn: Connection, counts: asset_counts.Counts, suffix: str = LIVE_SUFFIX
) -> None:
    if not counts:
        return
    keys = sorted(counts, key=asset_counts.CountKey.sort_key)  # one lock order for every writer
    await conn.execute(
        add_to_counts_sql(suffix),
        [k.tenant_id for k in keys],
        [k.category for k in keys],
        [k.status for k in keys],
        [k.purchase_month for k in keys],
        [counts[k][0] for k in keys],
        [Decimal(counts[k][1]) for k in keys],
    )


async def _replace_savings(
    conn: Connection, keys: set[tuple[str, str]], rows: list[SavingRow], suffix: str = LIVE_SUFFIX
) -> None:
    """Replace the saving rows of ``keys`` by ``rows`` (theirs)."""
    if not keys:
        return
    ordered = sorted(keys)
    await conn.execute(delete_savings_sql(suffix), [k[0] for k in ordered], [k[1] for k in ordered])
    await insert_savings(conn, rows, suffix)


async def insert_savings(
    conn: Connection, rows: list[SavingRow], suffix: str = LIVE_SUFFIX
) -> None:
    if rows:
        await conn.execute(insert_savings_sql(suffix), [r.as_json() for r in rows])


async def recompute(conn: Connection, table: FactorTable, tenant: str | None = None) -> int:
    """Rebuild KPI aggregates and saving rows from asset_state (one tenant or all).

    Runs in the caller's transaction. Returns the number of assets folded in.
    """
    only = "WHERE $1::text IS NULL OR tenant_id = $1"
    await conn.execute(f"DELETE FROM kpi_monthly {only}", tenant)
    await conn.execute(f"DELETE FROM carbon_savings {only}", tenant)
    await conn.execute(f"DELETE FROM asset_counts {only}", tenant)
    rows = await conn.fetch(f"SELECT * FROM asset_state {only}", tenant)
    states = [state_rows.from_row(r) for r in rows]
    settings = await tenant_settings(conn, (s.tenant_id for s in states))
    total: Contribution = {}
    savings: list[SavingRow] = []
    for s in states:
        f = facts(s, settings[s.tenant_id], table)
        add_into(total, f.aggregates)
        savings.extend(f.savings)
    await add(conn, without_zeros(total))
    await insert_savings(conn, savings)
    await add_counts(conn, asset_counts.one_pass(states))
    return len(states)


async def factor_history(conn: Connection) -> list[FactorTableVersion]:
    """Every factor table the deployment recorded, oldest first."""
    rows = await conn.fetch("SELECT * FROM factor_table_history ORDER BY version")
    return [
        FactorTableVersion(
            version=r["version"],
            table=FactorTable(
                source=r["factor_source"],
                version=r["factor_version"],
                citation=r["citation"],
                embodied_kg={k: float(v) for k, v in r["embodied_kg"].items()},
            ),
            recorded_at=r["recorded_at"],
            recorded_by=r["recorded_by"],
        )
        for r in rows
    ]


async def _record_factor_table(
    conn: Connection, table: FactorTable, recorded_by: str, recorded_at: datetime | None = None
) -> None:
    await conn.execute(
        "INSERT INTO factor_table_history (version, factor_source, factor_version, citation, "
        "embodied_kg, recorded_at, recorded_by) SELECT COALESCE(max(version), 0) + 1, $1, $2, "
        "$3, $4::jsonb, COALESCE($5, clock_timestamp()), $6 FROM factor_table_history",
        table.source,
        table.version,
        table.citation,
        table.embodied_kg,
        recorded_at,
        recorded_by,
    )


async def ensure_model(
    conn: Connection, table: FactorTable, recorded_by: str = "kretslopp worker"
) -> bool:
    """Record the factor table in use; recompute everything if it, or the version of the KPI
    definitions (``FACTS_VERSION``), changed. True if it did.

    Every table in use is kept in ``factor_table_history`` with its figures, who recorded it
    and when, so a report as known before a change still uses the table of its day."""
    async with conn.transaction():
        await locks.lock_factor_model(conn)
        row = await conn.fetchrow(
            "SELECT factor_source, factor_version, facts_version, updated_at FROM kpi_model "
            "FOR UPDATE"
        )
        history = await factor_history(conn)
        if row is not None and not history:
            # In use before the history was kept: record it as of when it was chosen.
            known = FACTOR_TABLES.get(row["factor_source"])
            if known is not None and known.version == row["factor_version"]:
                await _record_factor_table(
                    conn, known, "in use before factor tables were versioned", row["updated_at"]
                )
                history = await factor_history(conn)
        latest = history[-1].table if history else None
        if latest is None or latest != table:
            await _record_factor_table(conn, table, recorded_by)
        if row is not None and (
            row["factor_source"],
            row["factor_version"],
            row["facts_version"],
        ) == (table.source, table.version, FACTS_VERSION):
            return False
        await conn.execute(
            "INSERT INTO kpi_model (factor_source, factor_version, facts_version) "
            "VALUES ($1, $2, $3) ON CONFLICT (singleton) DO UPDATE SET "
            "factor_source = EXCLUDED.factor_source, factor_version = EXCLUDED.factor_version, "
            "facts_version = EXCLUDED.facts_version, updated_at = now()",
            table.source,
            table.version,
            FACTS_VERSION,
        )
        if row is None:
            count = await conn.fetchval("SELECT count(*) FROM asset_state")
            if not count:
                return False
        assets = await recompute(conn, table)
        log.warning(
            "factor table or KPI definitions changed: KPIs recomputed",
            previous={k: str(v) for k, v in dict(row).items()} if row else None,
            facts_version=FACTS_VERSION,
            factor_source=table.source,
            factor_version=table.version,
            assets=assets,
        )
        return True


async def store_tenant_settings(
    conn: Connection,
    tenant: str,
    settings: TenantSettings,
    table: FactorTable,
    *,
    effective_from: date | None = None,
    recorded_by: str = "kretslopp",
    reason: str | None = None,
) -> int:
    """Record a new settings version and recompute the tenant's KPIs in the same
    transaction, with no batch of the tenant running meanwhile
    (``projections.postgres.locks``). Returns the number of assets recomputed."""
    async with conn.transaction():
        await locks.lock_tenant_settings(conn, tenant)
        version = await conn.fetchval(
            # clock_timestamp(), taken under the lock: recorded_at grows with the version
            "INSERT INTO tenant_settings_history (tenant_id, version, settings, effective_from, "
            "recorded_at, recorded_by, reason) SELECT $1, COALESCE(max(version), 0) + 1, "
            "$2::jsonb, $3, clock_timestamp(), $4, $5 FROM tenant_settings_history "
            "WHERE tenant_id = $1 RETURNING version",
            tenant,
            settings.as_json(),
            effective_from,
            recorded_by,
            reason,
        )
        await conn.execute(
            "INSERT INTO tenant_settings (tenant_id, settings, version) VALUES ($1, $2::jsonb, $3) "
            "ON CONFLICT (tenant_id) DO UPDATE SET settings = EXCLUDED.settings, "
            "version = EXCLUDED.version, updated_at = now()",
            tenant,
            settings.as_json(),
            version,
        )
        await conn.fetchval("SELECT 1 FROM tenant_settings WHERE tenant_id = $1 FOR UPDATE", tenant)
        rows = await recompute(conn, table, tenant)
        await changes.notify_everything_changed(conn, tenant)
        return rows
