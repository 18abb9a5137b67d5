"""Read API latency with a large fleet: p50 / p99 per endpoint, beside a baseline.

    .venv/bin/python -m bench.api_latency [--assets 100000] [--requests 300]

Seeds PostgreSQL through the real writer (the same transaction path as the worker, without
Kafka) with a sample fleet of about 10 events per asset, starts ``kretslopp api``, and times
each endpoint sequentially over HTTP. The baseline is ``GET /health`` (one ``SELECT 1`` through
the same HTTP server and pool, no API key check), so the ratio shows what a query costs
beyond the stack itself.
Uses the embedded PostgreSQL unless DATABASE_URL is set. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from infra.embedded import EmbeddedPostgres
from infra.ports import free_port
from infra.settings import Settings
from projections.batch import SourceRecord, prepare
from projections.postgres.api_keys import create_key
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from projections.postgres.writer import apply_batch
from services.demo.sample_fleet import generate

CHUNK_DEVICES = 5000
BASELINE = "baseline: GET /health"


async def api_key(dsn: str, tenant: str) -> str:
    conn = await connect(dsn)
    try:
        key, _ = await create_key(conn, tenant, "bench")
        return key
    finally:
        await conn.close()


async def seed(dsn: str, assets: int, console: Console) -> tuple[int, float]:
    conn = await connect(dsn)
    events = 0
    started = time.perf_counter()
    try:
        await migrate(conn)
        with Progress(
            "seeding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
        ) as progress:
            task = progress.add_task("assets", total=assets)
            offset = 0
            for first in range(0, assets, CHUNK_DEVICES):
                count = min(CHUNK_DEVICES, assets - first)
                objects = generate(
                    count, seed=first + 1, first=first, repairs_per_year=2.0, redeploys_per_year=0.6
                )
                for i in range(0, len(objects), 5000):
                    chunk = objects[i : i + 5000]
                    records = [
                        SourceRecord(first % 8, offset + j, None, orjson.dumps(o))
                        for j, o in enumerate(chunk)
                    ]
                    offset += len(chunk)
                    await apply_batch(conn, "bench", "bench", prepare(records))
                    events += len(chunk)
                progress.update(task, advance=count)
        await conn.execute("VACUUM ANALYZE")  # what autovacuum would do on a live system
    finally:
        await conn.close()
    return events, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    base: str, key: str, paths: dict[str, str], requests: int
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name in paths}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        for path in paths.values():  # warm-up
            (await client.get(path)).raise_for_status()
        for _ in range(requests):
            for name, path in paths.items():
                t0 = time.perf_counter()
                response = await client.get(path)
                timings[name].append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
    return timings


def read_paths(tenant: str) -> dict[str, str]:
    """The endpoints timed, the first being the baseline."""
    return {
        BASELINE: "/health",
        "kpis, one year": f"/v1/tenants/{tenant}/kpis?from=2025-01&to=2025-12",
        "kpis, 2019-2026 by category": f"/v1/tenants/{tenant}/kpis?from=2019-01&to=2026-12"
        "&group_by=category",
        "kpis, by supplier x month": f"/v1/tenants/{tenant}/kpis?from=2024-01&to=2025-12"
        "&group_by=supplier&group_by=month",
        "fleet overview": f"/v1/tenants/{tenant}/fleet",
        "asset + history": f"/v1/tenants/{tenant}/assets/GOT-000010",
    }


@contextlib.contextmanager
def running_api(api_settings: Settings) -> Iterator[str]:
    """``kretslopp api`` as a subprocess with these settings, healthy; yields its base URL."""
    logs = api_settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # kept: a 5xx the bench counts must be explained by the API's own log
    with (logs / f"api-{api_settings.api_port}.log").open("ab") as log_file:
        api = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api"],
            env=api_settings.child_env(),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        base = f"http://127.0.0.1:{api_settings.api_port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        api.terminate()
        api.wait(30)


def time_read_api(settings: Settings, dsn: str, requests: int) -> dict[str, list[float]]:
    """Start ``kretslopp api`` on ``dsn`` and time each read endpoint ``requests`` times."""
    api_settings = replace(
        settings, database_url=dsn, kafka_bootstrap_servers="unused:1", api_port=free_port()
    )
    with running_api(api_settings) as base:
        tenant = "goteborg-kommun"
        key = asyncio.run(api_key(dsn, tenant))
        return asyncio.run(measure(base, key, read_paths(tenant), requests))


def latency_rows(timings: dict[str, list[float]]) -> list[tuple[str, str, str, str]]:
    """(endpoint, p50 ms, p99 ms, p50 / baseline p50) for each endpoint."""
    baseline = statistics.median(timings[BASELINE])
    rows = []
    for name, values in timings.items():
        p50 = statistics.median(values)
        rows.append(
            (name, f"{p50:.1f}", f"{percentile(values, 0.99):.1f}", f"{p50 / baseline:.1f}x")
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    args = parser.parse_args()
    console = Console()
    settings = Settings.from_env()
    postgres = None
    dsn = settings.database_url
    if not dsn:
        postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="kretslopp-bench-")) / "pg")
        dsn = postgres.start()
    try:
        events, seconds = asyncio.run(seed(dsn, args.assets, console))
        console.print(
            f"seeded {args.assets} assets, {events} events in {seconds:.0f} s "
            f"({events / seconds:.0f} events/s through the writer)"
        )
        timings = time_read_api(settings, dsn, args.requests)
        table = Table(
            title=f"read API, {args.assets} assets / {events} events, "
            f"{args.requests} sequential requests each"
        )
        for column in ("endpoint", "p50 ms", "p99 ms", "p50 / baseline p50"):
            table.add_column(column, justify="right")
        for row in latency_rows(timings):
            table.add_row(*row)
        console.print(table)
    finally:
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
