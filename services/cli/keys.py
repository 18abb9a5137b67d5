"""``kretslopp keys create|list|revoke``: API keys per source system, scoped to one tenant."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections.database import connect
from projections.migrate import migrate
from services.api_keys import create_key, list_keys, revoke


def run_keys(
    settings: Settings,
    action: str,
    *,
    tenant: str | None,
    source: str | None,
    key_id: str | None,
    operator: bool = False,
) -> int:
    _, dsn = settings.require_endpoints()
    console = Console()

    async def run() -> int:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            if action == "create":
                assert source and (tenant or operator)
                key, record = await create_key(conn, tenant or "", source, operator=operator)
                whose = (
                    "Operator key (reads /v1/status, no tenant's data)"
                    if operator
                    else f"API key for tenant [bold]{escape(record.tenant_id)}[/bold]"
                )
                console.print(f"{whose}, source {escape(record.source)} (id {record.key_id}).")
                console.print("It is shown only now; store it in the source system's secrets:")
                print(key)
                return 0
            if action == "revoke":
                assert key_id
                if await revoke(conn, key_id):
                    console.print(f"revoked {key_id}")
                    return 0
                console.print(f"[red]no active key with id {escape(key_id)}[/red]")
                return 1
            table = Table("key id", "kind", "tenant", "source", "created", "revoked")
            for k in await list_keys(conn, tenant):
                table.add_row(
                    k.key_id,
                    k.kind,
                    escape(k.tenant_id),
                    escape(k.source),
                    k.created_at.isoformat(),
                    k.revoked_at.isoformat() if k.revoked_at else "",
                )
            console.print(table)
            return 0
        finally:
            await conn.close()

    return asyncio.run(run())
