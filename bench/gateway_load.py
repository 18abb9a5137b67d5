"""The HTTP gateway under many clients: what it accepts, how long a POST waits, what breaks.

    .venv/bin/python -m bench.gateway_load [--clients 200] [--events 100] [--seconds 30]

``--clients`` concurrent clients, each POSTing batches of ``--events`` events to
``/v1/tenants/{t}/events`` for ``--seconds``, as ITSM tools do after an outage. Beside it, in
the same run: what one plain aiokafka producer (acks=all) sends to the same broker, the floor
the gateway's Kafka produce stands on, and read latency of ``GET /kpis`` at one request per
0.1 s while the load runs. Every event is valid and has a new ``event_id`` (a client's retry
would reuse it; none retries here: an error is counted, not hidden).

Runs on the embedded stack unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set; also called
by ``bench.pipeline``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.api_latency import percentile, running_api
from events.codec import key_for
from infra.embedded import embedded_stack, kafka_libs_dir
from infra.ports import free_port
from infra.settings import Settings
from projections.postgres.api_keys import create_key
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from services.demo.sample_fleet import generate
from streams.producer import kafka_producer, send_all
from streams.topics import ensure_topics

TENANT = "goteborg-kommun"


@dataclass
class GatewayLoad:
    clients: int
    events_per_post: int
    workers: int
    seconds: float = 0.0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    post_s: list[float] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    producer_events_s: float = 0.0  # one aiokafka producer to the same broker, same run

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _templates(count: int) -> list[dict[str, Any]]:
    """Valid events of one tenant; each POST sends copies with new event ids."""
    events = [
        e
        for e in generate(count, seed=4242, first=7_000_000)
        if e["tenant_id"] == TENANT and e["event_type"] in ("purchased", "repaired", "redeployed")
    ]
    return events


async def _producer_floor(settings: Settings, templates: list[dict[str, Any]], total: int) -> float:
    """Events/s of one plain producer, acks=all, on a topic of its own."""
    kafka = settings.kafka_bootstrap_servers
    assert kafka
    topic = settings.topic + "-producer-floor"
    await ensure_topics(kafka, {topic: 8}, replication=settings.topic_replication)
    records = []
    for i in range(total):
        e = dict(templates[i % len(templates)], event_id=str(uuid.uuid4()))
        records.append((key_for(e["tenant_id"], e["asset_id"]), orjson.dumps(e)))
    async with kafka_producer(kafka, idempotent=settings.idempotent_producer) as producer:
        started = time.perf_counter()
        await send_all(producer, topic, records)
        return total / (time.perf_counter() - started)


async def _key(dsn: str) -> str:
    conn = await connect(dsn)
    try:
        await migrate(conn)
        return (await create_key(conn, TENANT, "bench gateway load"))[0]
    finally:
        await conn.close()


async def _drive(base: str, key: str, run: GatewayLoad, templates: list[dict[str, Any]]) -> None:
    """The clients, in this process. aiohttp, not httpx: with 200 connections httpx's pool
    took a whole core here and capped the load at ~8.6k events/s, the client's limit, not
    the gateway's."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    deadline = time.perf_counter() + run.seconds
    connector = aiohttp.TCPConnector(limit=run.clients + 10)
    timeout = aiohttp.ClientTimeout(total=60)

    def count(kind: str) -> None:
        run.errors[kind] = run.errors.get(kind, 0) + 1

    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def one_client(n: int) -> None:
            i = n * run.events_per_post
            while time.perf_counter() < deadline:
                body = []
                for _ in range(run.events_per_post):
                    body.append(dict(templates[i % len(templates)], event_id=str(uuid.uuid4())))
                    i += 1
                started = time.perf_counter()
                try:
                    async with client.post(
                        f"/v1/tenants/{TENANT}/events", data=orjson.dumps(body), headers=headers
                    ) as response:
                        answer = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    count(type(exc).__name__)
                    continue
                run.post_s.append(time.perf_counter() - started)
                if status == 202:
                    run.accepted += int(orjson.loads(answer)["accepted"])
                else:
                    count(f"HTTP {status}")

        async def reader() -> None:
            path = f"/v1/tenants/{TENANT}/kpis?from=2025-01&to=2025-12"
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with client.get(path, headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            run.read_s.append(time.perf_counter() - started)
                        else:
                            count(f"read HTTP {response.status}")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    count(f"read {type(exc).__name__}")
                await asyncio.sleep(0.1)

        started = time.perf_counter()
        await asyncio.gather(reader(), *(one_client(n) for n in range(run.clients)))
        run.seconds = time.perf_counter() - started


def gateway_load(
    settings: Settings, dsn: str, clients: int, events_per_post: int, seconds: float, workers: int
) -> GatewayLoad:
    """Start ``kretslopp api`` with ``workers`` processes on ``dsn`` and the broker of
    ``settings``, then load it."""
    run = GatewayLoad(clients, events_per_post, workers, seconds=seconds)
    templates = _templates(3000)
    run.producer_events_s = asyncio.run(_producer_floor(settings, templates, 100_000))
    port = free_port()
    api_settings = replace(
        settings,
        database_url=dsn,
        api_port=port,
        api_workers=workers,
        topic=settings.topic + "-gateway",
    )
    asyncio.run(
        ensure_topics(
            str(settings.kafka_bootstrap_servers),
            {api_settings.topic: 8},
            replication=settings.topic_replication,
        )
    )
    with running_api(api_settings) as base:
        key = asyncio.run(_key(dsn))
        asyncio.run(_drive(base, key, run, templates))
    return run


def rows(run: GatewayLoad) -> list[tuple[str, str, str, str]]:
    """(measure, kretslopp, baseline beside it, ratio) rows for the bench tables."""
    label = (
        f"gateway: {run.clients} clients x {run.events_per_post} events per POST, "
        f"{run.seconds:.0f} s, {run.workers} server process(es)"
    )
    return [
        (
            f"{label}: events/s accepted vs one aiokafka producer (acks=all)",
            f"{run.accepted_per_s:,.0f}",
            f"{run.producer_events_s:,.0f}",
            f"{run.accepted_per_s / run.producer_events_s:.2f}" if run.producer_events_s else "",
        ),
        (
            "gateway POST latency p50 / p99 / max s",
            f"{percentile(run.post_s, 0.5):.2f} / {percentile(run.post_s, 0.99):.2f} / "
            f"{max(run.post_s, default=0):.2f}",
            "",
            "",
        ),
        (
            "gateway errors (non-202 answers, transport errors)",
            f"{run.error_count:,}" + (f" {run.errors}" if run.errors else ""),
            "",
            "",
        ),
        (
            "GET /kpis (one year) during the load, p50 / p99 ms",
            f"{percentile(run.read_s, 0.5) * 1e3:.0f} / {percentile(run.read_s, 0.99) * 1e3:.0f}",
            "",
            "",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=100, help="events per POST")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    settings = replace(
        Settings.from_env(),
        broker_port=0,
        topic=f"bench-gateway-{int(time.time())}",
        data_dir=Path(tempfile.mkdtemp(prefix="kretslopp-bench-gateway-")),
    )
    with embedded_stack(settings, kafka_libs=kafka_libs_dir(Path(".kretslopp"))) as ep:
        settings = settings.with_endpoints(
            ep.kafka_bootstrap_servers, ep.database_url, ep.replication
        )
        run = gateway_load(
            settings, ep.database_url, args.clients, args.events, args.seconds, args.workers
        )
    table = Table(title="kretslopp gateway under load")
    for column in ("measure", "kretslopp", "baseline beside it", "ratio"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    for row in rows(run):
        table.add_row(*row)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
