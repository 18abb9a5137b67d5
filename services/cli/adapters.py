"""``kretslopp adapters settings|unmapped``: a tenant's adapter configuration, and the
lifecycle signals adapters received but could not map (kept so nothing is lost silently)."""

from __future__ import annotations

import asyncio

import orjson
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections.database import connect
from projections.migrate import migrate
from services.adapter_store import list_signals, load_settings, store_settings
from services.adapters.base import AdapterSettings

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
        conn = await connect(dsn)
        try:
            await migrate(conn)
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
        finally:
            await conn.close()

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
        conn = await connect(dsn)
        try:
            await migrate(conn)
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
        finally:
            await conn.close()

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
