"""``kretslopp report csrd|restatement|suppliers``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from infra.settings import Settings
from projections.carbon import factor_table
from projections.postgres.connection import migrated
from services.reports import csrd as csrd_report


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
        async with migrated(dsn) as conn:
            if kind == "csrd":
                return await csrd_report.csrd(conn, tenant, year, as_of, table)
            if kind == "restatement":
                assert first and second
                return await csrd_report.restatement(conn, tenant, year, first, second, table)
            return await csrd_report.supplier_scorecard(conn, tenant, year, as_of, table)

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


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    report = sub.add_parser(
        "report",
        help="CSRD datapoints (ESRS E1-6, E5-4, E5-5), restatements, supplier scorecards",
        description="Reporting jobs: reads only PostgreSQL. The event log is folded again as "
        "known on --as-of (events recorded up to the end of that day), so a closed year's "
        "report can be reproduced byte for byte later.",
    )
    kinds = report.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, text in (
        ("csrd", "the tenant-year's CSRD datapoints with methodology"),
        ("restatement", "what changed between two as-of dates, and which events caused it"),
        ("suppliers", "the KPIs per supplier, defined identically, side by side"),
    ):
        kind = kinds.add_parser(name, help=text, description=text)
        kind.add_argument("--tenant", required=True)
        kind.add_argument("--year", type=int, required=True)
        kind.add_argument("-o", "--output", type=Path, help="write to a file")
        if name == "restatement":
            kind.add_argument("--from", dest="from_as_of", required=True, metavar="DATE")
            kind.add_argument("--to", dest="to_as_of", required=True, metavar="DATE")
        else:
            kind.add_argument(
                "--as-of", metavar="DATE", help="YYYY-MM-DD (end of that day, UTC) or ISO timestamp"
            )
            kind.add_argument(
                "--format",
                choices=["json", "csv", "md"] if name == "csrd" else ["json", "csv"],
                default="json",
            )
    report.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    return run_report(
        settings,
        args.kind,
        tenant=args.tenant,
        year=args.year,
        as_of=getattr(args, "as_of", None),
        first=getattr(args, "from_as_of", None),
        second=getattr(args, "to_as_of", None),
        fmt=getattr(args, "format", "json"),
        output=args.output,
    )
