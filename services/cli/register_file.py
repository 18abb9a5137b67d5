"""``kretslopp import FILE``: an asset-register export (CSV or JSON Lines) into events."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from events.models import LifecycleEvent
from infra.settings import Settings
from services.intake.chunked_send import send_in_chunks
from services.intake.publisher import Publisher
from services.intake.register import (
    RegisterFileError,
    RowError,
    csv_rows,
    events_for_row,
    jsonl_rows,
)
from streams.topics import ensure_lifecycle_topics


@dataclass
class ImportReport:
    rows: int = 0
    events: list[LifecycleEvent] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def read_register(path: Path, tenant: str, source: str, fmt: str) -> ImportReport:
    report = ImportReport()
    with path.open("rb") as stream:
        rows = csv_rows(stream) if fmt == "csv" else jsonl_rows(stream)
        for line, row in rows:
            report.rows += 1
            if isinstance(row, RowError):
                report.rejected.append((line, str(row)))
                continue
            try:
                report.events.extend(events_for_row(tenant, row, source))
            except RowError as exc:
                report.rejected.append((line, str(exc)))
    return report


def run_import(settings: Settings, path: Path, *, tenant: str, source: str, fmt: str | None) -> int:
    console = Console(stderr=True, soft_wrap=True)  # one message, one line (greppable)
    kafka = settings.kafka_bootstrap_servers
    if not kafka:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS must be set")
    if not path.exists():
        raise SystemExit(f"no such file: {path}")
    kind = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    try:
        report = read_register(path, tenant, source, kind)
    except RegisterFileError as exc:
        console.print(f"[red]{escape(str(path))}[/red]: {escape(str(exc))}; nothing imported")
        return 2

    async def send() -> None:
        await ensure_lifecycle_topics(settings, dead_letters=False)
        publisher = Publisher(kafka, settings.topic, idempotent=settings.idempotent_producer)
        try:
            await send_in_chunks(
                report.events, publisher.publish, label="importing", console=console
            )
        finally:
            await publisher.close()

    asyncio.run(send())
    imported = report.rows - len(report.rejected)
    console.print(
        f"{report.rows} row(s) read, {imported} imported as {len(report.events)} event(s) "
        f"for tenant {escape(tenant)}; {len(report.rejected)} rejected"
    )
    for line, reason in report.rejected:  # the reason quotes the file: never read as markup
        console.print(f"[red]line {line}[/red]: {escape(reason)}")
    return 2 if report.rejected else 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    importer = sub.add_parser(
        "import",
        help="import an asset-register export (CSV or JSON Lines) as lifecycle events",
        description="One row per device: purchase date, category, manufacturer, model, "
        "supplier, certifications, condition, end-of-use date and disposition (columns in "
        "services/intake/register.py and README.md). Derives purchased / taken_back / recycled "
        "events with deterministic ids, so importing the same file twice adds nothing. Bad "
        "rows are reported by line number; the good ones are imported. Exit code 2 if any row "
        "was rejected.",
    )
    importer.add_argument("file", type=Path, help="the export file")
    importer.add_argument("--tenant", required=True, help="the organisation the file belongs to")
    importer.add_argument(
        "--source",
        default="register-import",
        help="source name recorded on the events (default: register-import)",
    )
    importer.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        help="default: by file extension (.jsonl/.ndjson, else CSV)",
    )
    importer.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    return run_import(settings, args.file, tenant=args.tenant, source=args.source, fmt=args.format)
