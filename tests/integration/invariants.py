"""The invariant every integration test ends with, asserted exactly."""

from __future__ import annotations

from typing import Any

from events.codec import EVENT_ADAPTER
from events.models import LifecycleEvent
from projections import asset_counts, event_rows, state_rows
from projections.asset_state import fold_all
from projections.carbon import BOAVIZTA_PCF_MEDIAN, FactorTable
from projections.kpi_facts import MEASURES, Contribution, KpiKey, facts, one_pass, without_zeros
from projections.postgres.connection import Connection, connect
from projections.tenant_settings import SettingsTimeline, SettingsVersion, TenantSettings
from tests.integration.conftest import StackEnv, fetch_all


def valid_events(objects: list[dict[str, Any]]) -> list[LifecycleEvent]:
    """Distinct (by event_id) events, first occurrence kept."""
    seen: dict[str, LifecycleEvent] = {}
    for obj in objects:
        seen.setdefault(obj["event_id"], EVENT_ADAPTER.validate_python(obj))
    return list(seen.values())


async def assert_projection_is_fold_of(env: StackEnv, produced: list[dict[str, Any]]) -> None:
    expected = valid_events(produced)
    log_rows = await fetch_all(env.dsn, "SELECT * FROM event_log")
    assert sorted(str(r["event_id"]) for r in log_rows) == sorted(
        str(e.event_id) for e in expected
    ), "event log must hold each distinct valid event exactly once"

    state_rows_ = await fetch_all(env.dsn, "SELECT * FROM asset_state")
    stored = {
        (r["tenant_id"], r["asset_id"]): state_rows.comparable(state_rows.from_row(r))
        for r in state_rows_
    }
    from_produced = {k: state_rows.comparable(v) for k, v in fold_all(expected).items()}
    from_log = {
        k: state_rows.comparable(v)
        for k, v in fold_all(event_rows.from_row(r) for r in log_rows).items()
    }
    assert stored.keys() == from_produced.keys()
    mismatched = [k for k in stored if stored[k] != from_produced[k]]
    assert not mismatched, (
        f"{len(mismatched)} asset states differ from the fold, e.g. {mismatched[:3]}"
    )
    assert stored == from_log
    await assert_kpis_are_one_pass(env.dsn)


async def stored_kpis(dsn: str) -> Contribution:
    conn = await connect(dsn)
    try:
        return await stored_kpis_of(conn)
    finally:
        await conn.close()


async def stored_kpis_of(conn: Connection) -> Contribution:
    rows = await conn.fetch("SELECT * FROM kpi_monthly")
    total: Contribution = {}
    for r in rows:
        key = KpiKey(r["tenant_id"], r["month"], r["category"], r["supplier"], r["org_unit"])
        total[key] = {m: r[m] for m in MEASURES}
    return without_zeros(total)


async def stored_counts(dsn: str) -> asset_counts.Counts:
    rows = await fetch_all(dsn, "SELECT * FROM asset_counts")
    return asset_counts.without_zeros(
        {
            asset_counts.CountKey(
                r["tenant_id"], r["category"], r["status"], r["purchase_month"]
            ): (r["devices"], int(r["purchased_us"]))
            for r in rows
        }
    )


async def assert_kpis_are_one_pass(dsn: str, table: FactorTable = BOAVIZTA_PCF_MEDIAN) -> None:
    """The KPI aggregates and the asset counts kept batch by batch equal a recomputation from
    the asset states, and every saving row belongs to an asset's current facts."""
    states = [state_rows.from_row(r) for r in await fetch_all(dsn, "SELECT * FROM asset_state")]
    versions: dict[str, list[SettingsVersion]] = {}
    for r in await fetch_all(dsn, "SELECT * FROM tenant_settings_history ORDER BY version"):
        versions.setdefault(r["tenant_id"], []).append(
            SettingsVersion(
                r["version"], TenantSettings.model_validate(r["settings"]), r["effective_from"]
            )
        )
    settings = {t: SettingsTimeline.of(v) for t, v in versions.items()}
    expected = one_pass(states, settings, table, TenantSettings())
    assert await stored_kpis(dsn) == expected
    assert await stored_counts(dsn) == asset_counts.one_pass(states)
    savings = await fetch_all(
        dsn, "SELECT tenant_id, asset_id, method, saving_g FROM carbon_savings"
    )
    want = sorted(
        (row.tenant_id, row.asset_id, row.method.value, row.saving_g)
        for s in states
        for row in facts(s, settings.get(s.tenant_id, TenantSettings()), table).savings
    )
    assert sorted(tuple(r.values()) for r in savings) == want
