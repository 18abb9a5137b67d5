"""``kretslopp migrate``: apply the versioned schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from infra.settings import Settings


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations (the worker also does this at start-up)",
        description="Apply the versioned SQL migrations to DATABASE_URL; safe to repeat.",
    )
    migrate.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from projections.postgres.connection import connect
    from projections.postgres.migrate import migrate

    _, dsn = settings.require_endpoints()

    async def run() -> list[str]:
        conn = await connect(dsn)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0
