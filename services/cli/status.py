"""``kretslopp status``: is the projection keeping up, and what did it refuse?"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from services.reports.status import StatusReport, collect_status


def render(report: StatusReport, console: Console) -> None:
    table = Table(title=f"{report.topic}  (consumer group {report.consumer_group})")
    for column in (
        "partition",
        "checkpoint",
        "high water",
        "lag",
        "applied",
        "duplicates",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    for p in report.partitions:
        table.add_row(
            str(p.partition),
            str(p.next_offset),
            "?" if p.high_watermark is None else str(p.high_watermark),
            "?" if p.lag is None else str(p.lag),
            str(p.events_applied),
            str(p.duplicates_skipped),
            str(p.dead_letters),
        )
    console.print(table)
    if report.broker_error:
        console.print(
            f"[yellow]broker not reachable, lag unknown:[/yellow] {escape(report.broker_error)}"
        )
    console.print(
        f"total lag {report.total_lag if report.total_lag is not None else '?'} | "
        f"events in log {report.events_in_log} | assets {report.assets} | "
        f"with anomalies {report.assets_with_anomalies} | "
        f"incomplete history {report.assets_with_incomplete_history}"
    )
    if report.dead_letters_by_reason:
        reasons = escape(", ".join(f"{k}: {v}" for k, v in report.dead_letters_by_reason.items()))
        console.print(f"unresolved dead letters by reason: {reasons} (see `kretslopp dlq list`)")
    if report.unmapped_lifecycle_signals:
        signals = escape(
            ", ".join(f"{k}: {v}" for k, v in report.unmapped_lifecycle_signals.items())
        )
        console.print(
            f"lifecycle signals adapters could not map: {signals} "
            "(see `kretslopp adapters unmapped`)"
        )


def run_status(settings: Settings, *, as_json: bool) -> int:
    report = asyncio.run(collect_status(settings))
    if as_json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report, Console())
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    status = sub.add_parser(
        "status",
        help="per-partition lag, events applied, duplicates skipped, dead letters",
        description="Read checkpoints from PostgreSQL and high-water marks from Kafka.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    return run_status(settings, as_json=args.json)
