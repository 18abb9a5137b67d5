"""Kafka -> PostgreSQL throughput: kretslopp's Faust worker beside the same work without Faust.

    .venv/bin/python -m bench.pipeline [--events 200000]

One run, one machine, one broker, one deterministic dataset (the sample fleet of two tenants,
multi-year histories) produced once to a topic, then:

- (a) baseline: a minimal aiokafka ``getmany`` loop feeding the same decode -> fold -> one
  PostgreSQL transaction per batch (``projections.writer.apply_batch``) into a fresh database;
- (b) ``kretslopp worker`` (Faust) end to end into another fresh database, peak RSS sampled;
- rebuild throughput (``kretslopp rebuild``'s code) from (b)'s event log;
- freshness: with a worker running, events produced at a steady rate (default 2,000/s); the
  delay from each send to the PostgreSQL transaction that applied it (``recorded_at``, the
  same transaction that moves the KPI rows), p50 / p99.

Prints events/s for each and the ratio b/a. Uses the embedded stack unless
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from events.codec import key_for
from infra.embedded import embedded_stack
from infra.settings import Settings
from projections.batch import SourceRecord, prepare
from projections.database import connect
from projections.migrate import migrate
from projections.rebuild import rebuild
from projections.writer import apply_batch
from services.sample_fleet import generate
from streams.producer import kafka_producer, send_all
from streams.topics import ensure_topics


def _db(base: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(base)._replace(path="/" + name))


async def produce_dataset(kafka: str, topic: str, events: int) -> tuple[int, float]:
    await ensure_topics(kafka, {topic: 8})
    sent, started, first = 0, time.perf_counter(), 0
    async with kafka_producer(kafka) as producer:
        while sent < events:
            chunk = generate(
                5000, seed=first + 7, first=first, repairs_per_year=2.0, redeploys_per_year=0.6
            )
            first += 5000
            chunk = chunk[: events - sent]
            sent += await send_all(
                producer,
                topic,
                [(key_for(o["tenant_id"], o["asset_id"]), orjson.dumps(o)) for o in chunk],
            )
    return sent, time.perf_counter() - started


async def baseline(
    kafka: str, topic: str, dsn: str, total: int, batch: int, group: str = "bench-baseline"
) -> float:
    conn = await connect(dsn)
    await migrate(conn)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=batch,
        fetch_max_bytes=50 * 1024 * 1024,
    )
    await consumer.start()
    done = 0
    started = None
    try:
        while done < total:
            got = await consumer.getmany(timeout_ms=1000, max_records=batch)
            records = [
                SourceRecord(tp.partition, m.offset, m.key, m.value)
                for tp, ms in got.items()
                for m in ms
            ]
            if not records:
                continue
            started = started or time.perf_counter()
            await apply_batch(conn, group, topic, prepare(records))
            await consumer.commit()
            done += len(records)
    finally:
        await consumer.stop()
        await conn.close()
    assert started is not None
    return time.perf_counter() - started


def faust_worker(settings: Settings, dsn: str, total: int) -> tuple[float, float, float]:
    """(seconds from first applied event to the last, seconds including start-up, peak RSS MB)"""
    worker_settings = replace(settings, database_url=dsn, consumer_group="bench-faust")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=worker_settings.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    launched = time.perf_counter()
    first_seen = None
    peak = 0.0
    try:
        while True:
            peak = max(peak, psutil.Process(process.pid).memory_info().rss / 2**20)
            applied = asyncio.run(_applied(dsn, "bench-faust"))
            if applied and first_seen is None:
                first_seen = time.perf_counter()
            if applied >= total:
                break
            if process.poll() is not None:
                raise RuntimeError("the worker exited")
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(30)
    end = time.perf_counter()
    assert first_seen is not None
    return end - first_seen, end - launched, peak


async def _applied(dsn: str, group: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('checkpoints') IS NULL"):
            return 0
        return int(
            await conn.fetchval(
                "SELECT COALESCE(sum(events_applied + duplicates_skipped + dead_letters), 0) "
                "FROM checkpoints WHERE consumer_group = $1",
                group,
            )
        )
    finally:
        await conn.close()


async def freshness(
    settings: Settings, dsn: str, rate: int, seconds: int
) -> tuple[float, float, int]:
    """p50 and p99 seconds from send to the committed batch, at a steady produce rate."""
    kafka = settings.kafka_bootstrap_servers
    assert kafka
    topic = settings.topic + "-fresh"
    await ensure_topics(kafka, {topic: 8})
    fresh = replace(settings, topic=topic, database_url=dsn, consumer_group="bench-fresh")
    process = subprocess.Popen(  # noqa: ASYNC220 - starts the worker and returns at once
        [sys.executable, "-m", "services.cli", "worker"],
        env=fresh.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent_at: dict[str, float] = {}
    try:
        objects = generate(
            rate * seconds // 8 + 100, seed=99, repairs_per_year=2.0, redeploys_per_year=0.6
        )[: rate * seconds]
        async with kafka_producer(kafka) as producer:
            await producer.send_and_wait(topic, b"warm-up: not an event")  # join, then go
            await _wait_applied(dsn, "bench-fresh", 1)
            tick = 0.05
            per_tick = max(1, int(rate * tick))
            started = time.perf_counter()
            for i in range(0, len(objects), per_tick):
                for o in objects[i : i + per_tick]:
                    sent_at[o["event_id"]] = time.time()
                    await producer.send(
                        topic, orjson.dumps(o), key=key_for(o["tenant_id"], o["asset_id"])
                    )
                await producer.flush()
                ahead = started + (i + per_tick) / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await _wait_applied(dsn, "bench-fresh", len(objects) + 1)
    finally:
        process.terminate()
        process.wait(30)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id::text, recorded_at FROM event_log")
    finally:
        await conn.close()
    delays = sorted(
        r["recorded_at"].timestamp() - sent_at[r["event_id"]]
        for r in rows
        if r["event_id"] in sent_at
    )
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99)], len(delays)


async def _wait_applied(dsn: str, group: str, count: int, timeout_s: float = 600) -> None:
    deadline = time.perf_counter() + timeout_s
    while True:
        if await _applied(dsn, group) >= count:
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{group}: fewer than {count} records processed in time")
        await asyncio.sleep(0.2)


async def create_databases(dsn: str, names: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000, help="records per batch, both sides")
    parser.add_argument("--rate", type=int, default=2000, help="events/s for the freshness run")
    parser.add_argument("--seconds", type=int, default=20, help="length of the freshness run")
    args = parser.parse_args()
    console = Console()
    settings = Settings.from_env()
    settings = replace(
        settings,
        broker_port=0,
        topic=f"bench-{int(time.time())}",
        batch_size=args.batch,
        data_dir=Path(tempfile.mkdtemp(prefix="kretslopp-bench-")),
    )
    with embedded_stack(settings) as ep:
        settings = settings.with_endpoints(ep.kafka_bootstrap_servers, ep.database_url)
        asyncio.run(create_databases(ep.database_url, ["bench_a", "bench_b", "bench_c"]))
        sent, produce_s = asyncio.run(
            produce_dataset(ep.kafka_bootstrap_servers, settings.topic, args.events)
        )
        console.print(f"produced {sent} events in {produce_s:.1f} s")
        a_s = asyncio.run(
            baseline(
                ep.kafka_bootstrap_servers,
                settings.topic,
                _db(ep.database_url, "bench_a"),
                sent,
                args.batch,
            )
        )
        console.print(f"(a) baseline done in {a_s:.1f} s")
        b_s, b_total_s, rss = faust_worker(settings, _db(ep.database_url, "bench_b"), sent)
        console.print(f"(b) Faust worker done in {b_s:.1f} s")

        async def run_rebuild() -> float:
            dsn = _db(ep.database_url, "bench_b")
            t0 = time.perf_counter()
            await rebuild(lambda: connect(dsn), settings.factor_table())
            return time.perf_counter() - t0

        rebuild_s = asyncio.run(run_rebuild())
        p50, p99, measured = asyncio.run(
            freshness(settings, _db(ep.database_url, "bench_c"), args.rate, args.seconds)
        )
    table = Table(title=f"Kafka -> PostgreSQL, {sent} events, batches of {args.batch}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("(a) baseline: aiokafka getmany + same writer, events/s", f"{sent / a_s:,.0f}")
    table.add_row("(b) kretslopp Faust worker, events/s", f"{sent / b_s:,.0f}")
    table.add_row("ratio b / a", f"{a_s / b_s:.2f}")
    table.add_row("(b) including start-up and group join, s", f"{b_total_s:.1f}")
    table.add_row("(b) worker peak RSS, MB", f"{rss:.0f}")
    table.add_row("rebuild from the event log, events/s", f"{sent / rebuild_s:,.0f}")
    table.add_row("produce (acks=all), events/s", f"{sent / produce_s:,.0f}")
    table.add_row(f"freshness at {args.rate}/s, p50 s ({measured} events)", f"{p50:.3f}")
    table.add_row(f"freshness at {args.rate}/s, p99 s", f"{p99:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
