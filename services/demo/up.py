"""``kretslopp up``: the whole system on one machine, with sample data to watch.

Starts the embedded broker and PostgreSQL (unless configured elsewhere), the worker and the
API as child processes (their JSON logs go to ``<data dir>/logs``), plays the sample history
and shows what PostgreSQL holds while it fills. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from events.codec import key_for
from infra.embedded import embedded_stack
from infra.ports import ensure_free
from infra.processes import spawn
from infra.settings import Settings
from infra.structured_logging import configure
from projections.postgres import checkpoints, reads
from projections.postgres.api_keys import replace_key
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from services.demo import sample_fleet
from streams.producer import kafka_producer
from streams.topics import ensure_lifecycle_topics


async def projected_count(dsn: str, settings: Settings) -> int:
    """Records this stack's worker has finished with: applied, duplicate or dead-lettered.

    Only its own consumer group and topic: a `replay` into the same database keeps its own
    checkpoints, which counted twice here before."""
    conn = await connect(dsn)
    try:
        return await checkpoints.records_done(conn, settings.consumer_group, settings.topic)
    finally:
        await conn.close()


async def fleet_table(dsn: str) -> Table:
    table = Table(
        title="What PostgreSQL knows now (asset_state)",
        caption="certified: purchases with a certification valid on the purchase date; "
        "lifespan y: mean years from purchase to end of use, of assets whose use ended",
    )
    for column in (
        "tenant",
        "assets",
        "in use",
        "taken back",
        "refurb.",
        "recycled",
        "certified",
        "lifespan y",
    ):
        table.add_column(column, justify="right")
    conn = await connect(dsn)
    try:
        rows = await reads.tenant_summaries(conn)
    finally:
        await conn.close()
    for r in rows:
        share = f"{r['certified'] / r['purchased']:.0%}" if r["purchased"] else "-"
        life = f"{r['lifespan']:.2f}" if r["lifespan"] is not None else "-"
        table.add_row(
            escape(r["tenant_id"]),
            str(r["assets"]),
            str(r["in_use"]),
            str(r["taken_back"]),
            str(r["refurbished"]),
            str(r["recycled"]),
            share,
            life,
        )
    return table


async def play_sample(
    settings: Settings, dsn: str, devices: int, seed: int, rate: float, console: Console
) -> int:
    objects = sample_fleet.generate(devices, seed)
    kafka = settings.kafka_bootstrap_servers
    assert kafka
    baseline = await projected_count(dsn, settings)
    total = len(objects)
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    ) as progress:
        sent_task = progress.add_task("produced to Kafka", total=total, note="")
        done_task = progress.add_task("projected (PostgreSQL)", total=total, note="")
        step = max(1, int(rate / 4))
        latest = ""
        started = time.monotonic()
        async with kafka_producer(kafka, idempotent=settings.idempotent_producer) as producer:
            for i in range(0, total, step):
                chunk = objects[i : i + step]
                futures = [
                    await producer.send(
                        settings.topic,
                        value=orjson.dumps(o),
                        key=key_for(o["tenant_id"], o["asset_id"]),
                    )
                    for o in chunk
                ]
                await asyncio.gather(*futures)
                latest = max(latest, *(o["occurred_at"][:10] for o in chunk))
                progress.update(sent_task, advance=len(chunk), note=f"history up to {latest}")
                done = await projected_count(dsn, settings) - baseline
                progress.update(done_task, completed=min(done, total))
                # pace the history so it can be watched
                ahead = (i + len(chunk)) / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = await projected_count(dsn, settings) - baseline
            progress.update(done_task, completed=min(done, total))
            if done >= total:
                break
            await asyncio.sleep(0.5)
    return total


def _header(settings: Settings, console: Console) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    console.print(
        Panel.fit(
            f"broker      {settings.broker_kind} at {settings.kafka_bootstrap_servers}\n"
            f"PostgreSQL  {settings.database_url}\n"
            f"dashboard   {api}/   (sign in with the demo key printed below)\n"
            f"API         {api}/docs   (OpenAPI: {api}/openapi.json, metrics: {api}/metrics)\n"
            f"logs        {settings.data_dir / 'logs'}\n"
            f"topic       {settings.topic} ({settings.partitions} partitions, "
            f"{settings.topic_replication} replica(s))",
            title="kretslopp is up",
        )
    )


def run_up(
    settings: Settings,
    *,
    devices: int,
    rate: float,
    seed: int,
    sample: bool,
    exit_when_done: bool,
) -> int:
    configure(settings.log_level, json=False)
    console = Console()
    # Tansu keeps topics in memory: a new one starts empty, and offsets of its previous life
    # mean nothing. Apache Kafka keeps them in the data dir, with the checkpoints that match.
    fresh_broker = not settings.kafka_bootstrap_servers and settings.broker_kind == "tansu"
    ensure_free(settings.api_host, settings.api_port, "KRETSLOPP_API_PORT")
    with embedded_stack(settings) as endpoints:
        settings = settings.with_endpoints(
            endpoints.kafka_bootstrap_servers, endpoints.database_url, endpoints.replication
        )
        dsn = endpoints.database_url
        asyncio.run(_prepare(settings, dsn, forget_offsets=fresh_broker))
        children = [spawn("worker", settings), spawn("api", settings)]
        try:
            _header(settings, console)
            if sample:
                asyncio.run(play_sample(settings, dsn, devices, seed, rate, console))
            console.print(asyncio.run(fleet_table(dsn)))
            if exit_when_done:
                return 0
            key = asyncio.run(_demo_key(dsn))
            base = f"http://{settings.api_host}:{settings.api_port}"
            console.print(
                "Running - Ctrl-C to stop. A demo API key of goteborg-kommun, for the "
                f"dashboard at {base}/ and the API (revoke with `kretslopp keys revoke`):\n"
                f"  curl -H 'Authorization: Bearer {key}' \\\n"
                f"    '{base}/v1/tenants/goteborg-kommun/kpis?from=2025-01&to=2025-12'",
                soft_wrap=True,
            )
            while all(c.process.poll() is None for c in children):
                time.sleep(1)
            for c in children:
                if c.process.poll() is not None:
                    console.print(
                        f"[red]{c.name} exited with {c.process.returncode}; see {c.log_path}[/red]"
                    )
            return 1
        except KeyboardInterrupt:
            console.print("stopping...")
            return 0
        finally:
            for c in children:
                with contextlib.suppress(Exception):
                    c.stop()


DEMO_KEY_SOURCE = "kretslopp-up demo"


async def _demo_key(dsn: str) -> str:
    """A fresh demo key; the one the previous `up` printed is revoked (only hashes are
    stored, so an old key cannot be shown again, and none is left active behind)."""
    conn = await connect(dsn)
    try:
        key, _ = await replace_key(conn, "goteborg-kommun", DEMO_KEY_SOURCE)
        return key
    finally:
        await conn.close()


async def _prepare(settings: Settings, dsn: str, *, forget_offsets: bool) -> None:
    kafka = settings.kafka_bootstrap_servers
    assert kafka
    await ensure_lifecycle_topics(settings)
    conn = await connect(dsn)
    try:
        await migrate(conn)
        if forget_offsets:
            await checkpoints.reset(
                conn, settings.consumer_group, settings.topic, list(range(settings.partitions))
            )
    finally:
        await conn.close()
