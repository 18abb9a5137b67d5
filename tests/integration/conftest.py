"""Real brokers and real PostgreSQL for integration tests, started once per test session.

Every integration test runs on both brokers: Tansu (embedded) and a 3-node Apache Kafka KRaft
cluster (``infra/kafka_cluster.py``), unless ``KRETSLOPP_BROKER`` names one of them. The Kafka
runs are skipped, with the reason printed at the end of the session, when this machine lacks
Java 17 or Maven. ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` point the tests at other
servers instead. Each test gets its own database, topics and consumer group, so tests do not
see each other's data. Workers run as real subprocesses, so a test can SIGKILL one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from infra.embedded import Endpoints, embedded_stack, kafka_libs_dir
from infra.kafka_cluster import unavailable_reason
from infra.ports import free_port
from infra.settings import Settings
from projections.batch import SourceRecord, prepare
from projections.postgres.api_keys import create_key
from projections.postgres.connection import Connection, connect
from projections.postgres.migrate import migrate
from projections.postgres.writer import apply_batch
from streams.producer import KeyValue, kafka_producer
from streams.topics import ensure_lifecycle_topics
from streams.watermarks import high_watermarks

pytestmark = pytest.mark.integration


ROOT = Path(__file__).resolve().parents[2]
# the jars are cached where `up` run from the project root caches them
KAFKA_LIBS = kafka_libs_dir(ROOT / ".kretslopp")
SKIPPED_BROKERS: dict[str, str] = {}  # broker -> why its runs were skipped (printed at the end)


def brokers_under_test() -> list[str]:
    chosen = Settings.from_env().broker
    return [chosen] if chosen else ["tansu", "kafka"]


@pytest.fixture(scope="session", params=brokers_under_test())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoints]:
    broker: str = request.param
    settings = replace(Settings.from_env(), broker=broker, broker_port=0)
    if broker == "kafka" and not settings.kafka_bootstrap_servers:
        reason = unavailable_reason(KAFKA_LIBS)
        if reason:
            SKIPPED_BROKERS["kafka"] = reason
            pytest.skip(f"Apache Kafka runs skipped: {reason}")
    settings = replace(settings, data_dir=tmp_path_factory.mktemp(f"stack-{broker}"))
    with embedded_stack(settings, kafka_libs=KAFKA_LIBS) as endpoints:
        yield endpoints


def broker_of(endpoints: Endpoints) -> str:
    return "tansu" if endpoints.broker is not None else "kafka"


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class StackEnv:
    settings: Settings
    log_dir: Path
    workers: list[Worker] = field(default_factory=list)
    stack: Endpoints | None = None

    @property
    def kafka(self) -> str:
        assert self.settings.kafka_bootstrap_servers
        return self.settings.kafka_bootstrap_servers

    @property
    def dsn(self) -> str:
        assert self.settings.database_url
        return self.settings.database_url

    def worker(self, name: str = "w", extra_env: dict[str, str] | None = None) -> Worker:
        w = Worker(
            self.settings, self.log_dir / f"worker-{name}-{len(self.workers)}.log", extra_env or {}
        )
        self.workers.append(w)
        w.start()
        return w


@pytest_asyncio.fixture
async def env(stack: Endpoints, tmp_path: Path) -> AsyncIterator[StackEnv]:
    async with env_on(stack, tmp_path) as test_env:
        yield test_env


@contextlib.asynccontextmanager
async def env_on(stack: Endpoints, tmp_path: Path) -> AsyncIterator[StackEnv]:
    """A database, topics and a consumer group of one test's own, on ``stack``."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    settings = Settings(
        kafka_bootstrap_servers=stack.kafka_bootstrap_servers,
        broker=broker_of(stack),
        replication_factor=stack.replication,
        database_url=database_url(stack.database_url, name),
        topic=f"lifecycle-{name}",
        dead_letter_topic=f"lifecycle-{name}-dlq",
        consumer_group=f"projector-{name}",
        partitions=4,
        data_dir=tmp_path / "data",
        batch_size=500,
        batch_within_s=0.2,
        log_level="info",
    )
    await ensure_lifecycle_topics(settings)
    test_env = StackEnv(settings, tmp_path, stack=stack)
    try:
        yield test_env
    finally:
        for w in test_env.workers:
            w.kill()
        admin = await asyncpg.connect(stack.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class Worker:
    """``kretslopp worker`` as a real subprocess."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str]) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = self.settings.child_env()
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stacks(self) -> str:
        """Every thread's stack and asyncio task of a live worker (mode's Worker dumps them on
        SIGUSR1), for a test that found the worker stalled; empty if it has exited."""
        if self.process is None or self.process.poll() is not None:
            return ""
        before = self.log_path.stat().st_size
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(3)
        with self.log_path.open("rb") as f:
            f.seek(before)
            return f.read(60_000).decode(errors="replace")


@pytest_asyncio.fixture
async def conn(env: StackEnv) -> AsyncIterator[Connection]:
    """A connection to the test's database, its schema migrated."""
    c = await connect(env.dsn)
    await migrate(c)
    try:
        yield c
    finally:
        await c.close()


async def produce(
    env: StackEnv, records: Sequence[KeyValue], max_request_size: int | None = None
) -> dict[int, int]:
    """Produce in order; return the last offset written per partition."""
    last: dict[int, int] = {}
    async with kafka_producer(
        env.kafka, idempotent=env.settings.idempotent_producer, max_request_size=max_request_size
    ) as producer:
        futures = [
            await producer.send(env.settings.topic, value=value, key=key) for key, value in records
        ]
        for meta in await asyncio.gather(*futures):
            last[meta.partition] = max(last.get(meta.partition, -1), meta.offset)
    return last


async def records_of(bootstrap: str, topic: str) -> list[Any]:
    """Every record on the topic, from its start to the log ends of now."""
    ends = await high_watermarks(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while len(records) < sum(ends.values()):
            assert time.monotonic() < deadline, f"{len(records)} of {ends} read"
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += batch
    finally:
        await consumer.stop()
    return records


def merge_offsets(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    return {p: max(a.get(p, -1), b.get(p, -1)) for p in set(a) | set(b)}


async def checkpoints(conn: asyncpg.Connection, env: StackEnv) -> dict[int, int]:
    try:
        rows = await conn.fetch(
            "SELECT kafka_partition, next_offset FROM checkpoints "
            "WHERE consumer_group = $1 AND topic = $2",
            env.settings.consumer_group,
            env.settings.topic,
        )
    except asyncpg.UndefinedTableError:
        return {}
    return {r["kafka_partition"]: r["next_offset"] for r in rows}


async def wait_until_applied(
    env: StackEnv, last_offsets: dict[int, int], timeout_s: float = 120
) -> None:
    """Until every partition's checkpoint has passed the last produced offset."""
    deadline = time.monotonic() + timeout_s
    conn = await connect(env.dsn)
    try:
        while True:
            done = await checkpoints(conn, env)
            if all(done.get(p, 0) > off for p, off in last_offsets.items()):
                return
            if time.monotonic() > deadline:
                logs = "\n".join(w.log()[-3000:] + w.stacks() for w in env.workers)
                raise AssertionError(
                    f"not applied in {timeout_s}s: checkpoints {done}, "
                    f"want > {last_offsets}\n{logs}"
                )
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def end_client_sessions(admin: asyncpg.Connection) -> int:
    """End every client session of ``admin``'s database but its own, as an operator's
    ``pg_terminate_backend``, a failover or ``idle_session_timeout`` does; how many ended."""
    ended = await admin.fetchval(
        "SELECT count(*) FROM ("
        "  SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        "  WHERE datname = current_database() AND pid <> pg_backend_pid()"
        "    AND backend_type = 'client backend') AS t"
    )
    return int(ended)


async def fetch_all(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def totals(env: StackEnv) -> tuple[int, int, int]:
    """(events applied, duplicates skipped, dead letters) over all partitions."""
    conn = await connect(env.dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('checkpoints') IS NULL"):
            return (0, 0, 0)
        row = await conn.fetchrow(
            "SELECT COALESCE(sum(events_applied), 0) a, COALESCE(sum(duplicates_skipped), 0) d,"
            " COALESCE(sum(dead_letters), 0) x FROM checkpoints"
        )
        assert row is not None
        return int(row["a"]), int(row["d"]), int(row["x"])
    finally:
        await conn.close()


async def wait_for_totals(env: StackEnv, applied: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while (await totals(env))[0] < applied:
        if time.monotonic() > deadline:
            logs = "\n".join(w.log()[-3000:] for w in env.workers)
            raise AssertionError(f"fewer than {applied} applied in {timeout_s}s\n{logs}")
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def api(env: StackEnv) -> AsyncIterator[str]:
    async with api_on(env) as base:
        yield base


def api_log_path(env: StackEnv, port: int) -> Path:
    return env.log_dir / f"api-{port}.log"


def api_log(env: StackEnv, base: str, tail_chars: int = 6000) -> str:
    """The end of the log of the API serving ``base`` (started by ``api_on``)."""
    path = api_log_path(env, int(base.rsplit(":", 1)[1]))
    return path.read_text(errors="replace")[-tail_chars:] if path.exists() else ""


@contextlib.asynccontextmanager
async def api_on(env: StackEnv, workers: int = 1) -> AsyncIterator[str]:
    """``kretslopp api`` as a real subprocess on a free port; yields its base URL."""
    port = free_port()
    settings = replace(env.settings, api_port=port, api_workers=workers)
    # its log is kept beside the workers' (api_log): a test that sees a wrong response can
    # show what the server said
    with api_log_path(env, port).open("ab") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - starts a server and returns at once
            [sys.executable, "-m", "services.cli", "api"],
            env={**settings.child_env(), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 60  # a loaded 2-core machine starts it in ~2-10 s
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{base}/health")).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the API never became healthy; its log:\n{api_log(env, base)}")
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


async def auth(env: StackEnv, tenant: str, source: str = "tests") -> dict[str, str]:
    """Headers with a fresh API key of ``tenant``."""
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        key, _ = await create_key(conn, tenant, source)
    finally:
        await conn.close()
    return {"Authorization": f"Bearer {key}"}


async def write_directly(
    env: StackEnv, objects: list[dict[str, Any]], first_offset: int = 0
) -> None:
    """Apply events through the real writer without Kafka (for read-side tests)."""
    records = [
        SourceRecord(0, first_offset + i, None, orjson.dumps(o)) for i, o in enumerate(objects)
    ]
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await apply_batch(conn, "g", "t", prepare(records))
    finally:
        await conn.close()


async def kretslopp(
    env: StackEnv, *args: str, settings: Settings | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user would, in a subprocess, off the event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", *args],
        env=(settings or env.settings).child_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def metric_values(text: str) -> dict[str, float]:
    """A Prometheus text exposition as {sample with labels: value}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def scrape_metrics(port: int) -> dict[str, float]:
    """A worker's /metrics on ``port``, once it serves them (up to 20 s)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                return metric_values((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
            await asyncio.sleep(0.2)
    raise AssertionError(f"nothing serves metrics on port {port}")
