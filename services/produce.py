"""``kretslopp produce FILE.jsonl``: validate and send events from a file."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from events.codec import InvalidEvent, decode, key_for
from infra.settings import Settings
from streams.producer import KeyValue, kafka_producer, send_all
from streams.topics import ensure_topics


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


def read_records(stream: IO[bytes], *, raw: bool) -> FileRecords:
    out = FileRecords()
    for number, line in _lines(stream):
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
    console = Console(stderr=True)
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
        await ensure_topics(kafka, {settings.topic: settings.partitions})
        sent = 0
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("producing", total=len(found.records))
            async with kafka_producer(kafka) as producer:
                step = 2000
                for start in range(0, len(found.records), step):
                    chunk = found.records[start : start + step]
                    sent += await send_all(producer, settings.topic, chunk)
                    progress.update(task, advance=len(chunk))
        return sent

    sent = asyncio.run(send())
    console.print(f"sent {sent} event(s) to {settings.topic}")
    for rejected in found.rejected:
        console.print(f"[red]line {rejected.line}[/red]: {rejected.reason}")
    if found.rejected:
        console.print(f"{len(found.rejected)} line(s) rejected, nothing sent for them")
        return 1
    return 0
