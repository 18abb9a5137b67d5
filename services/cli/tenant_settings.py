"""``kretslopp tenant-settings``: show or change a tenant's KPI and carbon parameters.

A change is a new version (who, when, from which date it applies), stored with the tenant's KPIs
recomputed in one transaction, so the aggregates never mix two sets of settings in one day;
earlier versions stay for reports as known before the change (``--history`` lists them).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError

from infra.settings import Settings
from projections.carbon import factor_table
from projections.postgres.connection import migrated
from projections.postgres.kpi_store import settings_timeline, store_tenant_settings
from projections.tenant_settings import SettingsTimeline, TenantSettings


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


def recorded_by() -> str:
    """Who changed the settings, as the CLI knows it: the command, the OS user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown user"
    return f"kretslopp tenant-settings ({user}@{socket.gethostname()})"


def effective_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--from: {text!r} is not a date (YYYY-MM-DD)") from None


def run_tenant_settings(
    settings: Settings,
    tenant: str,
    changes: dict[str, Any],
    *,
    effective_from: date | None = None,
    reason: str | None = None,
    history: bool = False,
) -> int:
    _, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)

    async def run() -> tuple[SettingsTimeline, int | None]:
        async with migrated(dsn) as conn:
            current = await settings_timeline(conn, tenant)
            if not changes:
                return current, None
            new = merged(current.latest.settings, changes)
            recomputed = await store_tenant_settings(
                conn,
                tenant,
                new,
                table,
                effective_from=effective_from,
                recorded_by=recorded_by(),
                reason=reason,
            )
            return await settings_timeline(conn, tenant), recomputed

    timeline, recomputed = asyncio.run(run())
    if history:
        versions = [
            {**v.describe(), "settings": v.settings.as_json()}
            for v in (timeline.versions or (timeline.latest,))
        ]
        print(orjson.dumps({"tenant_id": tenant, "versions": versions}, option=_PRETTY).decode())
        return 0
    latest = timeline.latest
    print(
        orjson.dumps(
            {"tenant_id": tenant, **latest.describe(), "settings": latest.settings.as_json()},
            option=_PRETTY,
        ).decode()
    )
    if recomputed is not None:
        applies = f"from {effective_from}" if effective_from else "from the start (a restatement)"
        print(
            f"saved as version {latest.version}, applying {applies}; "
            f"KPIs of {recomputed} asset(s) recomputed"
        )
    return 0


_PRETTY = orjson.OPT_INDENT_2


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    tenant = sub.add_parser(
        "tenant-settings",
        help="show or change a tenant's KPI and carbon parameters",
        description="Without options: show the tenant's current settings version (defaults "
        "where unset). With options: record a new version and recompute the tenant's KPIs in "
        "the same transaction. Every version is kept with who recorded it, when, and from which "
        "date it applies; a report --as-of a date uses the versions known on that date. "
        "Defaults: baseline N and target = Boavizta default life per category; d = 1; "
        "R = 10 %% of E (an assumption: set your ITAD's figure).",
    )
    tenant.add_argument("tenant", help="tenant id")
    tenant.add_argument(
        "--history", action="store_true", help="list every recorded version, oldest first"
    )
    tenant.add_argument(
        "--from",
        dest="effective_from",
        metavar="DATE",
        help="the change applies to facts on this day (UTC) and after; default: from the "
        "start, i.e. it restates every period",
    )
    tenant.add_argument(
        "--reason", metavar="TEXT", help="why the settings change (kept with the version)"
    )
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
    if args.history and changes:
        raise SystemExit("--history lists versions; give it without changes")
    if not changes and (args.effective_from or args.reason):
        raise SystemExit("--from and --reason go with a change (--baseline, --target, ...)")
    if args.reason is not None and (
        not 0 < len(args.reason) <= 500 or any(ord(c) < 32 or ord(c) == 127 for c in args.reason)
    ):
        raise SystemExit("--reason: 1 to 500 characters, no control characters")
    return run_tenant_settings(
        settings,
        args.tenant,
        changes,
        effective_from=effective_date(args.effective_from),
        reason=args.reason,
        history=args.history,
    )
