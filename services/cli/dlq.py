"""``kretslopp dlq list|show|retry``: look at dead letters, correct one, re-submit it.

A re-submitted event goes to the lifecycle topic like any other and is applied once (the
event log is unique on ``event_id``); the dead letter stays, marked resolved with the event id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from events.codec import InvalidEvent, decode
from infra.settings import Settings
from projections.postgres import reads
from projections.postgres.connection import migrated
from services.intake.publisher import Publisher


def run_dlq(
    settings: Settings,
    action: str,
    *,
    letter_id: int | None,
    reason: str | None,
    corrected: Path | None,
    as_json: bool,
) -> int:
    kafka, dsn = settings.require_endpoints()
    console = Console(stderr=True, soft_wrap=True)  # one message, one line (greppable)

    if corrected is not None and not corrected.exists():
        raise SystemExit(f"no such file: {corrected}")
    replacement = corrected.read_bytes().strip() if corrected is not None else None

    async def run() -> int:
        async with migrated(dsn) as conn:
            if action == "list":
                rows = await reads.open_dead_letters(conn, reason)
                if as_json:
                    print(
                        orjson.dumps(
                            [
                                {
                                    **{
                                        k: r[k]
                                        for k in (
                                            "id",
                                            "kafka_partition",
                                            "kafka_offset",
                                            "reason_kind",
                                            "field",
                                            "reason",
                                        )
                                    },
                                    "received_at": r["received_at"].isoformat(),
                                }
                                for r in rows
                            ]
                        ).decode()
                    )
                    return 0
                table = Table("id", "partition/offset", "reason", "field", "detail", "bytes")
                for r in rows:
                    value = bytes(r["record_value"] or b"")
                    table.add_row(  # quoted producer input: never read as markup
                        str(r["id"]),
                        f"{r['kafka_partition']}/{r['kafka_offset']}",
                        escape(r["reason_kind"]),
                        escape(r["field"] or ""),
                        escape(r["reason"][:60]),
                        escape(repr(value[:40])),
                    )
                Console().print(table)
                return 0
            assert letter_id is not None  # show and retry take an id (argparse)
            row = await reads.dead_letter(conn, letter_id)
            if row is None:
                console.print(f"[red]no dead letter with id {letter_id}[/red]")
                return 1
            if action == "show":
                sys.stdout.buffer.write(bytes(row["record_value"] or b"") + b"\n")
                return 0
            if row["resolved_at"] is not None:
                console.print(
                    f"dead letter {letter_id} was already resolved: {escape(row['resolution'])}"
                )
                return 1
            raw = replacement if replacement is not None else bytes(row["record_value"] or b"")
            try:
                event = decode(raw)
            except InvalidEvent as exc:
                console.print(f"[red]still invalid, nothing sent:[/red] {escape(exc.message)}")
                return 1
            publisher = Publisher(kafka, settings.topic, idempotent=settings.idempotent_producer)
            try:
                await publisher.publish([event])
            finally:
                await publisher.close()
            await reads.resolve_dead_letter(
                conn, letter_id, f"re-submitted as event {event.event_id}"
            )
            console.print(f"re-submitted dead letter {letter_id} as event {event.event_id}")
            return 0

    return asyncio.run(run())


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    dlq = sub.add_parser(
        "dlq",
        help="list, show and re-submit dead letters",
        description="Records the worker could not decode or validate are kept with their "
        "reason and original bytes. Correct one and re-submit it; it is then applied once.",
    )
    dlq_actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    dlq_list = dlq_actions.add_parser("list", help="unresolved dead letters")
    dlq_list.add_argument("--reason", help="only this reason kind, e.g. validation")
    dlq_list.add_argument("--json", action="store_true", help="machine-readable output")
    dlq_show = dlq_actions.add_parser("show", help="print a dead letter's original bytes")
    dlq_show.add_argument("id", type=int)
    dlq_retry = dlq_actions.add_parser(
        "retry", help="re-submit a dead letter, corrected from FILE or as it was"
    )
    dlq_retry.add_argument("id", type=int)
    dlq_retry.add_argument("--file", type=Path, help="the corrected event (JSON)")
    dlq.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    return run_dlq(
        settings,
        args.action,
        letter_id=getattr(args, "id", None),
        reason=getattr(args, "reason", None),
        corrected=getattr(args, "file", None),
        as_json=getattr(args, "json", False),
    )
