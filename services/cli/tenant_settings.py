"""``kretslopp tenant-settings``: show or change a tenant's KPI and carbon parameters.

A change is stored and the tenant's KPIs recomputed in one transaction, so the aggregates never
mix two settings.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from pydantic import ValidationError

from infra.settings import Settings
from projections.carbon import factor_table
from projections.database import connect
from projections.kpi_store import store_tenant_settings, tenant_settings
from projections.migrate import migrate
from projections.tenant_settings import TenantSettings


def parse_pairs(option: str, pairs: list[str]) -> dict[str, float]:
    """``["laptop=3", "monitor=6.5"]`` -> {"laptop": 3.0, "monitor": 6.5}."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"{option}: expected CATEGORY=NUMBER, got {pair!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"{option}: {value!r} is not a number (in {pair!r})") from None
    return out


def merged(current: TenantSettings, changes: dict[str, Any]) -> TenantSettings:
    data = current.as_json()
    for field, value in changes.items():
        if isinstance(value, dict):
            data[field] = {**data.get(field, {}), **value}
        else:
            data[field] = value
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"invalid settings: {problems}") from None


def run_tenant_settings(settings: Settings, tenant: str, changes: dict[str, Any]) -> int:
    _, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)

    async def run() -> tuple[TenantSettings, int | None]:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            current = (await tenant_settings(conn, [tenant]))[tenant]
            if not changes:
                return current, None
            new = merged(current, changes)
            return new, await store_tenant_settings(conn, tenant, new, table)
        finally:
            await conn.close()

    result, recomputed = asyncio.run(run())
    print(
        orjson.dumps(
            {"tenant_id": tenant, "settings": result.as_json()}, option=orjson.OPT_INDENT_2
        ).decode()
    )
    if recomputed is not None:
        print(f"saved; KPIs of {recomputed} asset(s) recomputed")
    return 0
