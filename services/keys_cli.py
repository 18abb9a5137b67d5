"""``kretslopp keys create|list|revoke``: API keys per source system, scoped to one tenant."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from infra.settings import Settings
from projections.database import connect
from projections.migrate import migrate
from services.api_keys import create_key, list_keys, revoke


def run_keys(
    settings: Settings, action: str, *, tenant: str | None, source: str | None, key_id: str | None
) -> int:
    _, dsn = settings.require_endpoints()
    console = Console()

    async def run() -> int:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            if action == "create":
                assert tenant and source
                key, record = await create_key(conn, tenant, source)
                console.print(
                    f"API key for tenant [bold]{record.tenant_id}[/bold], "
                    f"source {record.source} (id {record.key_id})."
                )
                console.print("It is shown only now; store it in the source system's secrets:")
                print(key)
                return 0
            if action == "revoke":
                assert key_id
                if await revoke(conn, key_id):
                    console.print(f"revoked {key_id}")
                    return 0
                console.print(f"[red]no active key with id {key_id}[/red]")
                return 1
            table = Table("key id", "tenant", "source", "created", "revoked")
            for k in await list_keys(conn, tenant):
                table.add_row(
                    k.key_id,
                    k.tenant_id,
                    k.source,
                    k.created_at.isoformat(),
                    k.revoked_at.isoformat() if k.revoked_at else "",
                )
            console.print(table)
            return 0
        finally:
            await conn.close()

    return asyncio.run(run())
