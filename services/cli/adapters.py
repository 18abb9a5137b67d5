"""``kretslopp adapters settings|unmapped``: a tenant's adapter configuration, and the
lifecycle signals adapters received but could not map (kept so nothing is lost silently)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections.postgres.connection import migrated
from services.intake.adapter_store import list_signals, load_settings, store_settings
from services.intake.adapters.base import AdapterSettings

TOOLS = ("servicenow", "snipe-it", "glpi")


class SettingsError(ValueError):
    """A settings option the user must correct; the message names it."""


def _pairs(option: str, pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise SettingsError(f"{option}: expected NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def changed_settings(
    current: AdapterSettings,
    *,
    categories: list[str] | None,
    custom_fields: list[str] | None,
    words: list[str] | None,
    clear: bool,
) -> AdapterSettings:
    base = {} if clear else current.model_dump(mode="json")
    data = {
        "categories": {**base.get("categories", {}), **_pairs("--category", categories)},
        "custom_fields": {
            **base.get("custom_fields", {}),
            **_pairs("--custom-field", custom_fields),
        },
        "words": {**base.get("words", {}), **_pairs("--word", words)},
    }
    try:
        return AdapterSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"invalid adapter settings: {problems}") from None


def run_adapter_settings(
    settings: Settings,
    tenant: str,
    tool: str,
    *,
    categories: list[str] | None,
    custom_fields: list[str] | None,
    words: list[str] | None,
    clear: bool,
) -> int:
    _, dsn = settings.require_endpoints()
    change = bool(categories or custom_fields or words or clear)

    async def run() -> AdapterSettings:
        async with migrated(dsn) as conn:
            current = await load_settings(conn, tenant, tool)
            if not change:
                return current
            new = changed_settings(
                current,
                categories=categories,
                custom_fields=custom_fields,
                words=words,
                clear=clear,
            )
            await store_settings(conn, tenant, tool, new)
            return new

    try:
        result = asyncio.run(run())
    except SettingsError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    body = {"tenant_id": tenant, "tool": tool, "settings": result.model_dump(mode="json")}
    print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    if change:
        print("saved; applies to payloads received from now on")
    return 0


def run_unmapped(
    settings: Settings, *, tenant: str | None, tool: str | None, limit: int, as_json: bool
) -> int:
    _, dsn = settings.require_endpoints()

    async def run() -> list[dict[str, object]]:
        async with migrated(dsn) as conn:
            return [
                {
                    "id": s.id,
                    "tenant_id": s.tenant_id,
                    "tool": s.tool,
                    "asset_id": s.asset_id,
                    "reason": s.reason,
                    "received_at": s.received_at.isoformat(),
                }
                for s in await list_signals(conn, tenant, tool, limit)
            ]

    rows = asyncio.run(run())
    if as_json:
        print(orjson.dumps(rows).decode())
        return 0
    table = Table("id", "received", "tenant", "tool", "asset", "reason")
    for r in rows:
        table.add_row(
            *(
                escape(str(r[k]))
                for k in ("id", "received_at", "tenant_id", "tool", "asset_id", "reason")
            )
        )
    Console(soft_wrap=True).print(table)
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    adapters = sub.add_parser(
        "adapters",
        help="a tenant's adapter settings; lifecycle signals adapters could not map",
        description="ServiceNow, Snipe-IT and GLPI name categories, custom fields and "
        "activity types in the customer's own words: 'settings' maps them per tenant. "
        "'unmapped' lists the status or substate changes adapters received but could not turn "
        "into an event (kept with their payload, never lost silently).",
    )
    adapter_actions = adapters.add_subparsers(dest="action", required=True, metavar="ACTION")
    adapter_settings = adapter_actions.add_parser(
        "settings", help="show or change a tenant's settings of one adapter"
    )
    adapter_settings.add_argument("tenant", help="tenant id")
    adapter_settings.add_argument("tool", choices=["servicenow", "snipe-it", "glpi"])
    adapter_settings.add_argument(
        "--category",
        nargs="+",
        metavar="NAME=CATEGORY",
        help="the tool's category name or ServiceNow model_category sys_id, e.g. "
        "'Bärbara datorer=laptop' or 'Computer=desktop'",
    )
    adapter_settings.add_argument(
        "--custom-field",
        nargs="+",
        metavar="FIELD=COLUMN",
        help="where the tool keeps one of our fields, e.g. inside_eu_eea=_snipeit_eu_12",
    )
    adapter_settings.add_argument(
        "--word",
        nargs="+",
        metavar="WORD=MEANING",
        help="a translated action, maintenance or status word, e.g. Kasserad=recycled",
    )
    adapter_settings.add_argument(
        "--clear", action="store_true", help="start from empty settings (then apply options)"
    )
    unmapped = adapter_actions.add_parser(
        "unmapped", help="lifecycle signals received but not mapped, newest first"
    )
    unmapped.add_argument("--tenant", help="only this tenant")
    unmapped.add_argument("--tool", choices=["servicenow", "snipe-it", "glpi"])
    unmapped.add_argument("--limit", type=int, default=200, help="at most this many (200)")
    unmapped.add_argument("--json", action="store_true", help="JSON instead of a table")
    adapters.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    if args.action == "settings":
        return run_adapter_settings(
            settings,
            args.tenant,
            args.tool,
            categories=args.category,
            custom_fields=args.custom_field,
            words=args.word,
            clear=args.clear,
        )
    return run_unmapped(
        settings, tenant=args.tenant, tool=args.tool, limit=args.limit, as_json=args.json
    )
