"""The kretslopp benchmark: every figure beside the baseline it ran with, in one run.

    .venv/bin/python -m bench.pipeline [--events 1000000]

One machine, one broker, one deterministic dataset (the sample fleet of two tenants,
multi-year histories, ~10 events per asset, so 1M events is ~100k assets) produced once to a
topic, then:

- (r) raw floor: the same aiokafka ``getmany`` loop doing the least a projector can do:
  ``orjson.loads``, one ``unnest`` upsert of the events and a checkpoint in one transaction;
  no validation, fold, KPIs or dead letters. Run twice, before (a) and after (b), into fresh
  databases; its figure is the mean, so a drift of the machine's speed during the run moves
  (r) as it moves (b);
- (a) baseline: that loop feeding kretslopp's decode -> fold -> KPIs -> one PostgreSQL
  transaction per batch (``projections.postgres.writer.apply_batch``, with the worker's state
  memory) into a fresh database; CPU per event of (a) and (r), in the per-batch work and in
  the whole process;
- (b) ``kretslopp worker --processes N`` (Faust; default 2, one per core of the bench machine,
  ``--worker-processes``) end to end into another fresh database; the resident memory of its
  largest worker process sampled every 0.2 s against the number of events applied (peak, and
  at 25/50/75/100 %), and the peak of all its processes together;
- rebuild throughput (``kretslopp rebuild``'s code) from (b)'s event log, beside (a): on
  (b)'s database vacuumed, and once before, right after (b) (autovacuum's work ahead);
- read API p50 / p99 on (b)'s database (``bench.api_latency``), beside ``GET /health``;
- freshness: a worker (one process) on a fresh topic, writing new assets into (b)'s database,
  while events are produced at a steady rate (default 2,000/s): from each send to the PostgreSQL
  transaction that applied it (``recorded_at``, the transaction that moves the KPI rows),
  beside the delay to a plain aiokafka consumer of the same topic (what Kafka alone costs);
  push freshness: from each send to the first ``changed`` message of its tenant's SSE stream
  after its commit, at a client of the API; and the read API timed again meanwhile, beside
  its unloaded figures;
- the gateway under 200 clients POSTing 100 events each for 30 s (``bench.gateway_load``),
  beside one aiokafka producer on the same broker.

The databases of (r) and (a) are dropped when their run is done, and (b)'s is vacuumed before
the read API is timed and before the gateway load: left alone, autovacuum works through a
finished run's million rows while a later run is measured, on the same two cores. (Why:
the gateway accepted 13,439 events/s inside one bench run and 21,726 alone right after; that
autovacuum made the difference is likely, not measured.)

``--broker kafka`` runs all of it on Tansu and then on a local 3-node Apache Kafka cluster, and
prints the broker-dependent figures side by side.

Uses the embedded stack unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set. Prints figures;
asserts nothing (tests assert behaviour, this measures it). About 20 minutes at 1M events on
the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from bench.api_latency import BASELINE, percentile, time_read_api
from bench.gateway_load import GatewayLoad, gateway_load
from bench.gateway_load import rows as gateway_rows
from events.codec import key_for
from infra.embedded import embedded_stack, kafka_libs_dir
from infra.garbage_collection import tune_for_throughput
from infra.ports import free_port
from infra.settings import Settings
from projections.batch import SourceRecord, prepare
from projections.carbon import factor_table
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from projections.postgres.rebuild import default_parts, rebuild
from projections.postgres.writer import apply_batch
from projections.state_cache import StateCache
from services.demo.sample_fleet import generate
from streams.producer import kafka_producer, send_all
from streams.topics import ensure_topics


def _db(base: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(base)._replace(path="/" + name))


async def produce_dataset(settings: Settings, events: int) -> tuple[int, float]:
    kafka, topic = settings.kafka_bootstrap_servers, settings.topic
    assert kafka
    await ensure_topics(kafka, {topic: 8}, replication=settings.topic_replication)
    sent, started, first = 0, time.perf_counter(), 0
    async with kafka_producer(kafka, idempotent=settings.idempotent_producer) as producer:
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


@dataclass
class LoopRun:
    seconds: float  # first fetched batch to the last committed one
    process_cpu_s: float  # the whole process's CPU over the same span (aiokafka included)
    writer_cpu_s: float  # CPU inside the per-batch work alone (decode + write)


RAW_FLOOR_TABLES = """
CREATE TABLE IF NOT EXISTS raw_floor_events (
    event_id uuid PRIMARY KEY, tenant_id text NOT NULL, asset_id text NOT NULL,
    event_type text NOT NULL, occurred_at timestamptz NOT NULL, payload jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS raw_floor_checkpoints (
    kafka_partition int PRIMARY KEY, next_offset bigint NOT NULL);
"""

RAW_FLOOR_INSERT = """
INSERT INTO raw_floor_events (event_id, tenant_id, asset_id, event_type, occurred_at, payload)
SELECT e, t, a, k, o::timestamptz, p::jsonb
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS r(e, t, a, k, o, p)
ON CONFLICT (event_id) DO NOTHING
"""

RAW_FLOOR_CHECKPOINT = """
INSERT INTO raw_floor_checkpoints (kafka_partition, next_offset)
SELECT * FROM unnest($1::int[], $2::bigint[])
ON CONFLICT (kafka_partition) DO UPDATE
SET next_offset = GREATEST(raw_floor_checkpoints.next_offset, EXCLUDED.next_offset)
"""


async def _raw_floor_write(conn: asyncpg.Connection, records: list[SourceRecord]) -> None:
    """The least a projector can do: parse, one set-based upsert, a checkpoint, one
    transaction. No validation, no fold, no KPIs, no dead letters."""
    objects = [orjson.loads(r.value) for r in records if r.value]
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    async with conn.transaction():
        await conn.execute(
            RAW_FLOOR_INSERT,
            [o["event_id"] for o in objects],
            [o["tenant_id"] for o in objects],
            [o["asset_id"] for o in objects],
            [o["event_type"] for o in objects],
            [o["occurred_at"] for o in objects],
            [orjson.dumps(o["payload"]).decode() for o in objects],
        )
        await conn.execute(RAW_FLOOR_CHECKPOINT, list(ends), list(ends.values()))


async def raw_floor(
    kafka: str, topic: str, dsn: str, total: int, batch: int, group: str = "bench-raw-floor"
) -> LoopRun:
    """(r): the (a) loop with the raw floor's write instead of kretslopp's writer."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(RAW_FLOOR_TABLES)

    async def write(records: list[SourceRecord]) -> None:
        await _raw_floor_write(conn, records)

    try:
        return await _consume_loop(kafka, topic, group, total, batch, write)
    finally:
        await conn.close()


async def baseline(
    kafka: str,
    topic: str,
    dsn: str,
    total: int,
    batch: int,
    group: str = "bench-baseline",
) -> LoopRun:
    """(a): aiokafka getmany feeding kretslopp's writer (decode, fold, KPIs, one transaction
    per batch), with the state memory the worker keeps."""
    conn = await connect(dsn)
    await migrate(conn)
    cache = StateCache()

    async def write(records: list[SourceRecord]) -> None:
        await apply_batch(conn, group, topic, prepare(records), cache=cache)

    try:
        return await _consume_loop(kafka, topic, group, total, batch, write)
    finally:
        await conn.close()


async def _consume_loop(
    kafka: str,
    topic: str,
    group: str,
    total: int,
    batch: int,
    write: Callable[[list[SourceRecord]], Awaitable[None]],
) -> LoopRun:
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
    cpu_started = 0.0
    writer_cpu = 0.0
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
            if started is None:
                started, cpu_started = time.perf_counter(), time.process_time()
            before = time.process_time()
            await write(records)
            writer_cpu += time.process_time() - before
            await consumer.commit()
            done += len(records)
    finally:
        await consumer.stop()
    assert started is not None
    return LoopRun(time.perf_counter() - started, time.process_time() - cpu_started, writer_cpu)


@dataclass
class WorkerRun:
    seconds: float  # first applied event to the last
    seconds_with_start: float  # process start to the last applied event
    # (events applied, resident memory of the largest worker process), sampled every 0.2 s
    rss_mb: list[tuple[int, float]]
    processes: int = 1
    peak_total_rss_mb: float = 0.0  # all worker processes together

    @property
    def rss_before_first_event_mb(self) -> float:
        """Started, joined, nothing applied yet: the worker's own footprint."""
        return [rss for done, rss in self.rss_mb if done == 0][-1]

    @property
    def peak_rss_mb(self) -> float:
        return max(rss for _, rss in self.rss_mb)

    def rss_at(self, share: float, total: int) -> float:
        """Resident memory when ``share`` of the events had been applied."""
        return next((rss for done, rss in self.rss_mb if done >= share * total), self.rss_mb[-1][1])


def worker_rss_mb(process: subprocess.Popen[bytes]) -> tuple[float, float]:
    """(largest, total) resident memory of the worker processes: the process itself, or the
    workers of ``--processes N`` (the group's own process holds no events)."""
    group = psutil.Process(process.pid)
    workers = group.children() or [group]
    sizes = []
    for worker in workers:
        try:
            sizes.append(worker.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return (max(sizes), sum(sizes)) if sizes else (0.0, 0.0)


def faust_worker(settings: Settings, dsn: str, total: int, processes: int = 1) -> WorkerRun:
    worker_settings = replace(
        settings, database_url=dsn, consumer_group="bench-faust", worker_processes=processes
    )
    peak_total = 0.0
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=worker_settings.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    launched = time.perf_counter()
    first_seen = None
    samples: list[tuple[int, float]] = []
    with Progress(
        "(b) Faust worker", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as progress:
        task = progress.add_task("events", total=total)
        try:
            while True:
                rss, rss_total = worker_rss_mb(process)
                peak_total = max(peak_total, rss_total)
                applied = asyncio.run(_applied(dsn, "bench-faust"))
                samples.append((applied, rss))
                progress.update(task, completed=applied)
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
    return WorkerRun(end - first_seen, end - launched, samples, processes, peak_total)


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


@dataclass
class Freshness:
    worker_s: list[float]  # send -> the PostgreSQL transaction that applied the event
    transport_s: list[float]  # send -> a plain aiokafka consumer has it (the floor)
    push_s: list[float]  # send -> the SSE `changed` message of its batch at a client
    # read API timings taken while the worker applied the steady rate, and whether they all
    # ran before the produce ended (else the last ones were not under load)
    reads_under_load: dict[str, list[float]] = field(default_factory=dict)
    reads_within_load: bool = True


async def listen_to_streams(
    base: str, keys: dict[str, str], arrivals: dict[str, list[float]]
) -> None:
    """One SSE stream per tenant; the arrival time of every `changed` message."""
    import httpx

    async def one(tenant: str, key: str) -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=None) as client,
            client.stream(
                "GET", f"/v1/tenants/{tenant}/stream", headers={"Authorization": f"Bearer {key}"}
            ) as response,
        ):
            async for line in response.aiter_lines():
                if line == "event: changed":
                    arrivals.setdefault(tenant, []).append(time.time())

    await asyncio.gather(*(one(t, k) for t, k in keys.items()))


def push_delays(
    rows: list[asyncpg.Record], sent_at: dict[str, float], arrivals: dict[str, list[float]]
) -> list[float]:
    """For each event: the first `changed` message of its tenant at or after its commit."""
    import bisect

    delays = []
    for r in rows:
        times = sorted(arrivals.get(r["tenant_id"], []))
        i = bisect.bisect_left(times, r["recorded_at"].timestamp())
        if r["event_id"] in sent_at and i < len(times):
            delays.append(times[i] - sent_at[r["event_id"]])
    return delays


async def freshness(
    settings: Settings,
    dsn: str,
    rate: int,
    seconds: int,
    during: Callable[[], dict[str, list[float]]] | None = None,
) -> Freshness:
    """Delays at a steady produce rate: to the KPI rows, and through Kafka alone beside it.
    ``during`` (the read API timing) runs in a thread while the events are produced. The
    events are of new assets, so they add to whatever ``dsn`` already holds."""
    kafka = settings.kafka_bootstrap_servers
    assert kafka
    topic = settings.topic + "-fresh"
    await ensure_topics(kafka, {topic: 8}, replication=settings.topic_replication)
    fresh = replace(settings, topic=topic, database_url=dsn, consumer_group="bench-fresh")
    process = subprocess.Popen(  # noqa: ASYNC220 - starts the worker and returns at once
        [sys.executable, "-m", "services.cli", "worker"],
        env=fresh.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent_at: dict[str, float] = {}
    received_at: dict[str, float] = {}
    arrivals: dict[str, list[float]] = {}
    api_port = free_port()
    api = subprocess.Popen(  # noqa: ASYNC220 - starts the API and returns at once
        [sys.executable, "-m", "services.cli", "api"],
        env=replace(fresh, api_port=api_port).child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    transport = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        group_id="bench-fresh-transport",
        auto_offset_reset="earliest",
    )

    async def receive() -> None:
        async for message in transport:
            if message.value and message.value.startswith(b"{"):
                received_at[orjson.loads(message.value)["event_id"]] = time.time()

    try:
        objects = generate(
            rate * seconds // 8 + 100,
            seed=99,
            first=5_000_000,
            repairs_per_year=2.0,
            redeploys_per_year=0.6,
        )[: rate * seconds]
        await transport.start()
        receiving = asyncio.create_task(receive())
        keys = await _stream_keys(dsn, f"http://127.0.0.1:{api_port}", objects)
        streaming = asyncio.create_task(
            listen_to_streams(f"http://127.0.0.1:{api_port}", keys, arrivals)
        )
        async with kafka_producer(kafka, idempotent=settings.idempotent_producer) as producer:
            await producer.send_and_wait(topic, b"warm-up: not an event")  # join, then go
            await _wait_applied(dsn, "bench-fresh", 1)
            tick = 0.05
            per_tick = max(1, int(rate * tick))
            reading = asyncio.create_task(asyncio.to_thread(during)) if during else None
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
            reads_within_load = reading is None or reading.done()
            reads = await reading if reading else {}
        await _wait_applied(dsn, "bench-fresh", len(objects) + 1)
        await asyncio.sleep(1)  # the last batches' messages
        receiving.cancel()
        streaming.cancel()
    finally:
        process.terminate()
        process.wait(30)
        api.terminate()
        api.wait(30)
        await transport.stop()
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id::text, tenant_id, recorded_at FROM event_log WHERE topic = $1", topic
        )
    finally:
        await conn.close()
    return Freshness(
        worker_s=[
            r["recorded_at"].timestamp() - sent_at[r["event_id"]]
            for r in rows
            if r["event_id"] in sent_at
        ],
        transport_s=[at - sent_at[e] for e, at in received_at.items() if e in sent_at],
        push_s=push_delays(rows, sent_at, arrivals),
        reads_under_load=reads,
        reads_within_load=reads_within_load,
    )


async def _stream_keys(dsn: str, base: str, objects: list[dict[str, object]]) -> dict[str, str]:
    """Wait for the API, then a key for each tenant of the run."""
    import httpx

    from projections.postgres.api_keys import create_key

    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    conn = await connect(dsn)
    try:
        tenants = sorted({str(o["tenant_id"]) for o in objects})
        return {t: (await create_key(conn, t, "bench"))[0] for t in tenants}
    finally:
        await conn.close()


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


async def drop_database(dsn: str, name: str) -> None:
    """A finished run's database, dropped: left, autovacuum works through its million rows
    during the later runs, on the same two cores."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def vacuum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does on a live system
    finally:
        await conn.close()


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


@dataclass
class BrokerRun:
    """Every figure of one run on one broker."""

    broker: str
    sent: int
    produce_s: float
    baseline: LoopRun
    floor: LoopRun  # before (a) and (b)
    floor_again: LoopRun  # after them: the two bracket (b) on a machine whose speed drifts
    worker: WorkerRun
    rebuild_s: float  # on (b)'s database vacuumed
    rebuild_unsettled_s: float  # right after (b), autovacuum's work ahead
    assets: int
    reads: dict[str, list[float]]
    fresh: Freshness
    gateway: GatewayLoad

    @property
    def baseline_s(self) -> float:
        return self.baseline.seconds

    @property
    def floor_s(self) -> float:
        """(r)'s seconds: the mean of its two runs. One 1M run takes 12-15 s, the shortest
        figure of the bench; alone it moved 64.8-84.2k events/s across four runs of one day
        while (b) moved 24.2-28.1k, and b/r with it (0.33-0.40)."""
        return (self.floor.seconds + self.floor_again.seconds) / 2


def run_on(broker: str, args: argparse.Namespace, console: Console) -> BrokerRun:
    """The whole bench on one broker, started here (or the configured endpoints)."""
    settings = replace(
        Settings.from_env(),
        broker=broker,
        broker_port=0,
        topic=f"bench-{int(time.time())}",
        batch_size=args.batch,
        data_dir=Path(tempfile.mkdtemp(prefix=f"kretslopp-bench-{broker}-")),
    )
    libs = kafka_libs_dir(Path(".kretslopp"))
    with embedded_stack(settings, kafka_libs=libs) as ep:
        settings = settings.with_endpoints(
            ep.kafka_bootstrap_servers, ep.database_url, ep.replication
        )
        console.print(
            f"[{broker}] broker at {ep.kafka_bootstrap_servers}, "
            f"{settings.topic_replication} replica(s), idempotent producers: "
            f"{settings.idempotent_producer}"
        )
        asyncio.run(
            create_databases(
                ep.database_url, ["bench_a", "bench_b", "bench_c", "bench_r", "bench_r2"]
            )
        )
        sent, produce_s = asyncio.run(produce_dataset(settings, args.events))
        console.print(f"[{broker}] produced {sent:,} events in {produce_s:.1f} s")

        def run_floor(database: str, group: str, when: str) -> LoopRun:
            """(r) into its own fresh database, dropped after."""
            run = asyncio.run(
                raw_floor(
                    ep.kafka_bootstrap_servers,
                    settings.topic,
                    _db(ep.database_url, database),
                    sent,
                    args.batch,
                    group=group,
                )
            )
            console.print(f"[{broker}] (r) raw floor {when}done in {run.seconds:.1f} s")
            asyncio.run(drop_database(ep.database_url, database))
            return run

        floor = run_floor("bench_r", "bench-raw-floor", "")
        a = asyncio.run(
            baseline(
                ep.kafka_bootstrap_servers,
                settings.topic,
                _db(ep.database_url, "bench_a"),
                sent,
                args.batch,
            )
        )
        console.print(f"[{broker}] (a) baseline done in {a.seconds:.1f} s")
        asyncio.run(drop_database(ep.database_url, "bench_a"))
        b = faust_worker(settings, _db(ep.database_url, "bench_b"), sent, args.worker_processes)
        console.print(f"[{broker}] (b) Faust worker done in {b.seconds:.1f} s")

        async def run_rebuild() -> tuple[float, float, int]:
            """Twice: right after (b), as earlier releases measured it (autovacuum works
            through (b)'s fresh million rows meanwhile, and the rebuild's reads set their
            hint bits), then on the database vacuumed, as a rebuild of a live system finds
            it. The second is the figure; the first says what an unsettled database costs."""
            dsn = _db(ep.database_url, "bench_b")
            table = factor_table(settings.factor_source)
            t0 = time.perf_counter()
            await rebuild(dsn, table, parts=args.rebuild_parts)
            unsettled = time.perf_counter() - t0
            await vacuum(dsn)
            t0 = time.perf_counter()
            await rebuild(dsn, table, parts=args.rebuild_parts)
            seconds = time.perf_counter() - t0
            await vacuum(dsn)
            conn = await connect(dsn)
            try:
                assets = int(await conn.fetchval("SELECT count(*) FROM asset_state"))
            finally:
                await conn.close()
            return seconds, unsettled, assets

        rebuild_s, rebuild_unsettled_s, assets = asyncio.run(run_rebuild())
        floor_again = run_floor("bench_r2", "bench-raw-floor-again", "again, after (b), ")
        console.print(f"[{broker}] rebuild done in {rebuild_s:.1f} s; timing the read API")
        dsn_b = _db(ep.database_url, "bench_b")
        reads = time_read_api(settings, dsn_b, args.requests)
        console.print(
            f"[{broker}] freshness: {args.rate} events/s for {args.seconds} s into (b)'s "
            "database, the read API timed meanwhile"
        )
        fresh = asyncio.run(
            freshness(
                settings,
                dsn_b,
                args.rate,
                args.seconds,
                during=lambda: time_read_api(settings, dsn_b, args.loaded_requests),
            )
        )
        asyncio.run(vacuum(dsn_b))  # the freshness run's writes, not vacuumed during the load
        console.print(
            f"[{broker}] gateway: {args.clients} clients x {args.events_per_post} events, "
            f"{args.gateway_seconds} s, {args.api_workers} server processes"
        )
        gateway = gateway_load(
            settings,
            _db(ep.database_url, "bench_c"),
            args.clients,
            args.events_per_post,
            args.gateway_seconds,
            args.api_workers,
        )
    return BrokerRun(
        broker,
        sent,
        produce_s,
        a,
        floor,
        floor_again,
        b,
        rebuild_s,
        rebuild_unsettled_s,
        assets,
        reads,
        fresh,
        gateway,
    )


def figures(run: BrokerRun, args: argparse.Namespace) -> Table:
    sent, a_s, b = run.sent, run.baseline_s, run.worker
    table = Table(
        title=f"kretslopp bench on {run.broker}: {sent:,} events, {run.assets:,} assets, "
        f"batches of {args.batch}"
    )
    for column in ("measure", "kretslopp", "baseline beside it", "ratio"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row(
        f"events/s Kafka -> PostgreSQL: (b) Faust worker ({b.processes} process(es)) vs (a) "
        "aiokafka getmany + same writer, one process",
        f"{sent / b.seconds:,.0f}",
        f"{sent / a_s:,.0f}",
        f"b/a {a_s / b.seconds:.2f}",
    )
    floor = run.floor
    table.add_row(
        "events/s: (b) Faust worker vs (r) raw floor: aiokafka getmany -> orjson -> one unnest "
        "upsert + checkpoint, no validation, fold or KPIs; (r) is the mean of a run before "
        "(a) and one after (b) (each in brackets)",
        f"{sent / b.seconds:,.0f}",
        f"{sent / run.floor_s:,.0f} ({sent / floor.seconds:,.0f}, "
        f"{sent / run.floor_again.seconds:,.0f})",
        f"b/r {run.floor_s / b.seconds:.2f}",
    )
    table.add_row(
        "CPU us per event in the per-batch work: (a) kretslopp's writer (decode, fold, KPIs, "
        "SQL) vs (r) the raw floor's",
        f"{run.baseline.writer_cpu_s / sent * 1e6:.0f}",
        f"{floor.writer_cpu_s / sent * 1e6:.0f}",
        f"{run.baseline.writer_cpu_s / floor.writer_cpu_s:.1f}x",
    )
    table.add_row(
        "CPU us per event, whole process (aiokafka included): (a) vs (r)",
        f"{run.baseline.process_cpu_s / sent * 1e6:.0f}",
        f"{floor.process_cpu_s / sent * 1e6:.0f}",
        f"{run.baseline.process_cpu_s / floor.process_cpu_s:.1f}x",
    )
    table.add_row(
        "(b) seconds incl. start-up and group join vs from first applied event",
        f"{b.seconds_with_start:.1f}",
        f"{b.seconds:.1f}",
        "",
    )
    idle = b.rss_before_first_event_mb
    table.add_row(
        "(b) worker peak RSS MB vs before its first event (largest worker process)",
        f"{b.peak_rss_mb:.0f}",
        f"{idle:.0f}",
        f"{b.peak_rss_mb / idle:.1f}x",
    )
    if b.processes > 1:
        table.add_row(
            f"(b) peak RSS MB of all {b.processes} worker processes together",
            f"{b.peak_total_rss_mb:.0f}",
            "",
            "",
        )
    table.add_row(
        "(b) worker RSS MB at 25 / 50 / 75 / 100 % of the events",
        " / ".join(f"{b.rss_at(q, sent):.0f}" for q in (0.25, 0.5, 0.75, 1.0)),
        "",
        "",
    )
    table.add_row(
        "rebuild from the event log vs (a), events/s",
        f"{sent / run.rebuild_s:,.0f}",
        f"{sent / a_s:,.0f}",
        f"{a_s / run.rebuild_s:.2f}",
    )
    table.add_row(
        "rebuild right after (b), before a vacuum, vs vacuumed, events/s",
        f"{sent / run.rebuild_unsettled_s:,.0f}",
        f"{sent / run.rebuild_s:,.0f}",
        f"{run.rebuild_unsettled_s / run.rebuild_s:.2f}",
    )
    table.add_row("produce (acks=all), events/s", f"{sent / run.produce_s:,.0f}", "", "")
    fresh = run.fresh
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        worker = percentile(fresh.worker_s, q)
        transport = percentile(fresh.transport_s, q)
        table.add_row(
            f"freshness {label} s at {args.rate}/s: to the KPI rows vs through Kafka alone "
            f"({len(fresh.worker_s):,} events)",
            f"{worker:.3f}",
            f"{transport:.3f}",
            f"{worker / transport:.1f}x" if transport > 0 else "",
        )
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        push = percentile(fresh.push_s, q)
        rows_ = percentile(fresh.worker_s, q)
        table.add_row(
            f"push freshness {label} s at {args.rate}/s: to the SSE message at a client vs "
            f"to the KPI rows ({len(fresh.push_s):,} events)",
            f"{push:.3f}",
            f"{rows_:.3f}",
            f"{push / rows_:.1f}x" if rows_ > 0 else "",
        )
    health = run.reads[BASELINE]
    for name, values in run.reads.items():
        if name == BASELINE:
            continue
        table.add_row(
            f"read API p50 / p99 ms: {name} vs GET /health ({args.requests} requests)",
            f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}",
            f"{percentile(health, 0.5):.1f} / {percentile(health, 0.99):.1f}",
            f"{percentile(values, 0.99) / percentile(health, 0.99):.1f}x",
        )
    loaded = run.fresh.reads_under_load
    for name, values in loaded.items():
        if name == BASELINE or name not in run.reads:
            continue
        unloaded = run.reads[name]
        table.add_row(
            f"read API p50 / p99 ms while the worker applies {args.rate}/s: {name} vs the same "
            f"unloaded ({len(values)} requests)"
            + ("" if run.fresh.reads_within_load else " [some after the load ended]"),
            f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}",
            f"{percentile(unloaded, 0.5):.1f} / {percentile(unloaded, 0.99):.1f}",
            f"{percentile(values, 0.99) / percentile(unloaded, 0.99):.1f}x",
        )
    for row in gateway_rows(run.gateway):
        table.add_row(*row)
    return table


def side_by_side(runs: list[BrokerRun], args: argparse.Namespace) -> Table:
    """The broker-dependent figures of one run on Tansu and on Apache Kafka, in one table."""
    table = Table(title="the same bench, same run: Tansu beside a 3-node Apache Kafka cluster")
    table.add_column("measure")
    for run in runs:
        table.add_column(run.broker, justify="right")
    rows: list[tuple[str, Callable[[BrokerRun], str]]] = [
        ("produce (acks=all), events/s", lambda r: f"{r.sent / r.produce_s:,.0f}"),
        ("(r) raw floor, mean of two runs, events/s", lambda r: f"{r.sent / r.floor_s:,.0f}"),
        ("(a) aiokafka getmany + writer, events/s", lambda r: f"{r.sent / r.baseline_s:,.0f}"),
        ("(b) Faust worker, events/s", lambda r: f"{r.sent / r.worker.seconds:,.0f}"),
        ("b/a", lambda r: f"{r.baseline_s / r.worker.seconds:.2f}"),
        ("b/r", lambda r: f"{r.floor_s / r.worker.seconds:.2f}"),
        (
            "gateway events/s accepted, POST p99 s",
            lambda r: f"{r.gateway.accepted_per_s:,.0f}, {percentile(r.gateway.post_s, 0.99):.2f}",
        ),
        (
            "(b) seconds incl. start-up and group join",
            lambda r: f"{r.worker.seconds_with_start:.1f}",
        ),
        (
            f"freshness p50 / p99 s at {args.rate}/s",
            lambda r: (
                f"{percentile(r.fresh.worker_s, 0.5):.3f} / "
                f"{percentile(r.fresh.worker_s, 0.99):.3f}"
            ),
        ),
        (
            "push to an SSE client p50 / p99 s",
            lambda r: (
                f"{percentile(r.fresh.push_s, 0.5):.3f} / {percentile(r.fresh.push_s, 0.99):.3f}"
            ),
        ),
        (
            "through Kafka alone p50 / p99 s",
            lambda r: (
                f"{percentile(r.fresh.transport_s, 0.5):.3f} / "
                f"{percentile(r.fresh.transport_s, 0.99):.3f}"
            ),
        ),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(run) for run in runs))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="records per batch, both sides")
    parser.add_argument("--rate", type=int, default=2000, help="events/s for the freshness run")
    parser.add_argument("--seconds", type=int, default=30, help="length of the freshness run")
    parser.add_argument("--requests", type=int, default=200, help="read API requests per endpoint")
    parser.add_argument(
        "--loaded-requests",
        type=int,
        default=60,
        help="read API requests per endpoint while the worker applies --rate",
    )
    parser.add_argument(
        "--rebuild-parts", type=int, default=default_parts(), help="rebuild: processes"
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=2,
        help="(b): `kretslopp worker --processes N`; the freshness run keeps one",
    )
    parser.add_argument("--clients", type=int, default=200, help="gateway load: clients")
    parser.add_argument("--events-per-post", type=int, default=100, help="gateway load")
    parser.add_argument("--gateway-seconds", type=float, default=30, help="gateway load")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="gateway load: API server processes"
    )
    parser.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default="tansu",
        help="kafka: run on Tansu, then on a local 3-node Apache Kafka cluster, and show both",
    )
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    tune_for_throughput()  # the baseline gets the worker's GC settings too
    console.print(f"machine: {machine()}")
    brokers = ["tansu", "kafka"] if args.broker == "kafka" else ["tansu"]
    runs = [run_on(broker, args, console) for broker in brokers]
    for run in runs:
        console.print(figures(run, args))
    if len(runs) > 1:
        console.print(side_by_side(runs, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
