"""``kretslopp produce FILE.jsonl``: validate and send events from a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.markup import escape

from events.codec import InvalidEvent, decode, key_for
from infra.settings import Settings
from services.intake.chunked_send import send_in_chunks
from streams.producer import KeyValue, kafka_producer, send_all
from streams.topics import ensure_lifecycle_topics


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class FileRecords:
    records: list[KeyValue] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        line = line.strip()
        if line:
            yield number, line


def _raw_key(line: bytes) -> bytes | None:
    try:
        obj = orjson.loads(line)
        return key_for(str(obj["tenant_id"]), str(obj["asset_id"]))
    except Exception:
        return None


# --raw sends lines as they are (to test the worker's dead letters), but never more than a
# producer may send in one request: a 2 MB line raised MessageSizeTooLargeError mid-send.
MAX_RAW_LINE_BYTES = 900_000


def read_records(stream: IO[bytes], *, raw: bool) -> FileRecords:
    out = FileRecords()
    for number, line in _lines(stream):
        if raw and len(line) > MAX_RAW_LINE_BYTES:
            out.rejected.append(
                Rejected(number, f"{len(line)} bytes; a record may be at most {MAX_RAW_LINE_BYTES}")
            )
            continue
        if raw:
            out.records.append((_raw_key(line), line))
            continue
        try:
            event = decode(line)
        except InvalidEvent as exc:
            out.rejected.append(Rejected(number, exc.message))
            continue
        out.records.append((key_for(event.tenant_id, event.asset_id), line))
    return out


def run_produce(settings: Settings, path: Path, *, raw: bool) -> int:
    console = Console(stderr=True, soft_wrap=True)  # one message, one line (greppable)
    kafka = settings.kafka_bootstrap_servers
    if not kafka:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS must be set")
    if str(path) == "-":
        found = read_records(sys.stdin.buffer, raw=raw)
    else:
        if not path.exists():
            raise SystemExit(f"no such file: {path}")
        with path.open("rb") as stream:
            found = read_records(stream, raw=raw)

    async def send() -> int:
        await ensure_lifecycle_topics(settings, dead_letters=False)
        async with kafka_producer(kafka, idempotent=settings.idempotent_producer) as producer:

            async def send_chunk(part: Sequence[KeyValue]) -> int:
                return await send_all(producer, settings.topic, part)

            await send_in_chunks(found.records, send_chunk, label="producing", console=console)
        return len(found.records)

    sent = asyncio.run(send())
    console.print(f"sent {sent} event(s) to {settings.topic}")
    for rejected in found.rejected:
        console.print(f"[red]line {rejected.line}[/red]: {escape(rejected.reason)}")
    if found.rejected:
        console.print(f"{len(found.rejected)} line(s) rejected, nothing sent for them")
        return 1
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    produce = sub.add_parser(
        "produce",
        help="send events from a JSON Lines file to the topic",
        description="Validate each line of FILE (one event per line) and produce the valid "
        "ones, keyed by tenant and asset. Invalid lines are reported with their line number "
        "and the field at fault; exit code 1 if any was rejected.",
    )
    produce.add_argument("file", type=Path, help="JSON Lines file, '-' for standard input")
    produce.add_argument(
        "--raw",
        action="store_true",
        help="send every line as it is, valid or not (the worker dead-letters bad ones)",
    )
    produce.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    return run_produce(settings, args.file, raw=args.raw)
