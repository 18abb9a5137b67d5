"""``kretslopp report csrd|restatement|suppliers|takeback``."""

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
from services.reports import takeback as takeback_report


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
    _write(text, output)
    return 0


def run_takeback(
    settings: Settings,
    *,
    tenant: str,
    first: str,
    last: str,
    supplier: str | None,
    counterparty: str | None,
    as_of: str | None,
    fmt: str,
    output: Path | None,
) -> int:
    _, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)
    try:
        period = takeback_report.period_of(first, last)
    except takeback_report.PeriodError as exc:
        raise SystemExit(f"--{exc}") from None
    try:
        csrd_report.as_of_instant(as_of)
    except ValueError as exc:
        raise SystemExit(f"not a date: {exc}") from None

    async def run() -> dict[str, Any]:
        async with migrated(dsn) as conn:
            return await takeback_report.takeback_report(
                conn,
                tenant,
                period,
                supplier=supplier,
                counterparty=counterparty,
                as_of=as_of,
                table=table,
            )

    report = asyncio.run(run())
    render = {
        "csv": takeback_report.to_csv,
        "md": takeback_report.to_markdown,
        "json": takeback_report.to_json,
    }[fmt]
    _write(render(report), output)
    return 0


def _write(text: str, output: Path | None) -> None:
    if output:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    report = sub.add_parser(
        "report",
        help="CSRD datapoints (ESRS E1-6, E5-4, E5-5), restatements, supplier scorecards, "
        "the 11180:1 take-back report",
        description="Reporting jobs: reads only PostgreSQL. The event log is folded again as "
        "known on --as-of (events recorded up to the end of that day), with the settings "
        "versions and factor table known then, so a closed year's report can be reproduced "
        "byte for byte later.",
    )
    kinds = report.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, text in (
        ("csrd", "the tenant-year's CSRD datapoints with methodology"),
        ("restatement", "what changed between two as-of dates, and what caused each change"),
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
            kind.add_argument("--as-of", metavar="DATE", help=_AS_OF)
            kind.add_argument(
                "--format",
                choices=["json", "csv", "md"] if name == "csrd" else ["json", "csv"],
                default="json",
            )
    text = (
        "Swedish procurement condition 11180:1: one row per unit sent in between --from and "
        "--to (make, model, serial, decommissioning date, functional tests, data erasure, "
        "reused / recycled / discarded inside or outside the EU/EEA, CO2e saved by reuse, "
        "compensation paid), the shares and totals; missing facts are listed per unit"
    )
    kind = kinds.add_parser("takeback", help="the 11180:1 take-back report", description=text)
    kind.add_argument("--tenant", required=True)
    kind.add_argument("--from", dest="first", required=True, metavar="DATE", help="YYYY-MM-DD")
    kind.add_argument("--to", dest="last", required=True, metavar="DATE", help="YYYY-MM-DD")
    kind.add_argument("--supplier", help="only units bought from this supplier")
    kind.add_argument("--counterparty", help="only units sent to this take-back counterparty")
    kind.add_argument("--as-of", metavar="DATE", help=_AS_OF)
    kind.add_argument("--format", choices=["json", "csv", "md"], default="json")
    kind.add_argument("-o", "--output", type=Path, help="write to a file")
    report.set_defaults(func=handle)


_AS_OF = "YYYY-MM-DD (end of that day, UTC) or ISO timestamp"


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.kind == "takeback":
        return run_takeback(
            settings,
            tenant=args.tenant,
            first=args.first,
            last=args.last,
            supplier=args.supplier,
            counterparty=args.counterparty,
            as_of=args.as_of,
            fmt=args.format,
            output=args.output,
        )
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
