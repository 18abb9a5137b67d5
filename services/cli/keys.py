"""``kretslopp keys create|list|revoke``: API keys per source system, scoped to one tenant."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections.postgres.api_keys import create_key, list_keys, revoke
from projections.postgres.connection import migrated


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
        async with migrated(dsn) as conn:
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

    return asyncio.run(run())


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys for the HTTP API: one per source system, scoped to one tenant. "
        "A key is printed once at creation; only its hash is stored.",
    )
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", help="the tenant the key may read and write")
    create.add_argument(
        "--operator",
        action="store_true",
        help="an operator key: reads /v1/status (all tenants' operations), no tenant's data",
    )
    create.set_defaults(parser=create)
    create.add_argument("--source", required=True, help="the system using it, e.g. servicenow")
    listing = key_actions.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = key_actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", help="the id shown by 'keys list'")
    keys.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    operator = bool(getattr(args, "operator", False))
    tenant = getattr(args, "tenant", None)
    if args.action == "create" and bool(tenant) == operator:
        args.parser.error("give either --tenant TENANT or --operator")
    return run_keys(
        settings,
        args.action,
        tenant=tenant,
        source=getattr(args, "source", None),
        key_id=getattr(args, "key_id", None),
        operator=operator,
    )
