"""``kretslopp tenant-settings``: show or change a tenant's KPI and carbon parameters.

A change is stored and the tenant's KPIs recomputed in one transaction, so the aggregates never
mix two settings.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson
from pydantic import ValidationError

from infra.settings import Settings
from projections.carbon import factor_table
from projections.postgres.connection import migrated
from projections.postgres.kpi_store import store_tenant_settings, tenant_settings
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
        async with migrated(dsn) as conn:
            current = (await tenant_settings(conn, [tenant]))[tenant]
            if not changes:
                return current, None
            new = merged(current, changes)
            return new, await store_tenant_settings(conn, tenant, new, table)

    result, recomputed = asyncio.run(run())
    print(
        orjson.dumps(
            {"tenant_id": tenant, "settings": result.as_json()}, option=orjson.OPT_INDENT_2
        ).decode()
    )
    if recomputed is not None:
        print(f"saved; KPIs of {recomputed} asset(s) recomputed")
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    tenant = sub.add_parser(
        "tenant-settings",
        help="show or change a tenant's KPI and carbon parameters",
        description="Without options: show the tenant's settings (defaults where unset). With "
        "options: change them and recompute the tenant's KPIs in the same transaction. "
        "Defaults: baseline N and target = Boavizta default life per category; d = 1; "
        "R = 10 %% of E (an assumption: set your ITAD's figure).",
    )
    tenant.add_argument("tenant", help="tenant id")
    tenant.add_argument(
        "--baseline",
        nargs="+",
        metavar="CATEGORY=YEARS",
        help="baseline replacement cycle N, e.g. laptop=3 monitor=5",
    )
    tenant.add_argument(
        "--target", nargs="+", metavar="CATEGORY=YEARS", help="target lifespan, e.g. laptop=8"
    )
    tenant.add_argument(
        "--displacement",
        type=float,
        metavar="D",
        help="displacement rate d in 0..1 for reuse savings",
    )
    tenant.add_argument(
        "--refurbishment-kg",
        nargs="+",
        metavar="CATEGORY=KG",
        help="refurbishment footprint R when an event reports none",
    )
    tenant.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    changes: dict[str, object] = {}
    if args.baseline:
        changes["baseline_years"] = parse_pairs("--baseline", args.baseline)
    if args.target:
        changes["target_lifespan_years"] = parse_pairs("--target", args.target)
    if args.refurbishment_kg:
        changes["default_refurbishment_kg_co2e"] = parse_pairs(
            "--refurbishment-kg", args.refurbishment_kg
        )
    if args.displacement is not None:
        changes["displacement_rate"] = args.displacement
    return run_tenant_settings(settings, args.tenant, changes)
