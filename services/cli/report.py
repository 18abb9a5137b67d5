"""``kretslopp report csrd|restatement|suppliers``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from infra.settings import Settings
from projections.carbon import factor_table
from projections.database import connect
from projections.migrate import migrate
from services import csrd_report


def run_report(
    settings: Settings,
    kind: str,
    *,
    tenant: str,
    year: int,
    as_of: str | None,
    first: str | None,
    second: str | None,
    fmt: str,
    output: Path | None,
) -> int:
    _, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)
    try:
        for value in (as_of, first, second):
            csrd_report.as_of_instant(value)
    except ValueError as exc:
        raise SystemExit(f"not a date: {exc}") from None

    async def run() -> dict[str, Any]:
        conn = await connect(dsn)
        try:
            await migrate(conn)
            if kind == "csrd":
                return await csrd_report.csrd(conn, tenant, year, as_of, table)
            if kind == "restatement":
                assert first and second
                return await csrd_report.restatement(conn, tenant, year, first, second, table)
            return await csrd_report.supplier_scorecard(conn, tenant, year, as_of, table)
        finally:
            await conn.close()

    report = asyncio.run(run())
    if fmt == "csv":
        text = csrd_report.to_csv(report)
    elif fmt == "md" and kind == "csrd":
        text = csrd_report.to_markdown(report)
    else:
        text = csrd_report.to_json(report)
    if output:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
