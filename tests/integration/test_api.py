"""The read API over real HTTP against the real database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import orjson
import pytest_asyncio

from infra.embedded import free_port
from projections.batch import SourceRecord, prepare
from projections.database import connect
from projections.migrate import migrate
from projections.writer import apply_batch
from tests.factories import T0, event_dict
from tests.integration.conftest import StackEnv


@pytest_asyncio.fixture
async def api(env: StackEnv) -> AsyncIterator[str]:
    port = free_port()
    settings = replace(env.settings, api_port=port)
    process = subprocess.Popen(  # noqa: ASYNC220 - starts a server and returns at once
        [sys.executable, "-m", "services.cli", "api"],
        env=settings.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{base}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


async def _seed(env: StackEnv) -> None:
    objects = [
        event_dict(
            "purchased",
            tenant="t1",
            asset="pc-1",
            at=T0,
            product_carbon_footprint_kg_co2e=251.0,
            weight_kg=1.3,
        ),
        event_dict("repaired", tenant="t1", asset="pc-1", at=T0 + timedelta(days=400)),
        event_dict("taken_back", tenant="t1", asset="pc-1", at=T0 + timedelta(days=1461)),
        event_dict("purchased", tenant="t1", asset="mon-1", category="monitor"),
        event_dict("purchased", tenant="t2", asset="pc-1"),
    ]
    records = [SourceRecord(0, i, None, orjson.dumps(o)) for i, o in enumerate(objects)]
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await apply_batch(conn, "g", "t", prepare(records))
    finally:
        await conn.close()


async def test_asset_detail_and_history(env: StackEnv, api: str) -> None:
    await _seed(env)
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.get("/v1/tenants/t1/assets/pc-1")
        assert response.status_code == 200
        body = response.json()
    assert body["asset"]["status"] == "taken_back"
    assert body["asset"]["product_carbon_footprint_kg_co2e"] == 251.0
    assert body["asset"]["repair_count"] == 1
    assert body["asset"]["ended_at"] == "2024-01-01T00:00:00Z"  # 2020 is a leap year
    assert [e["event_type"] for e in body["events"]] == ["purchased", "repaired", "taken_back"]
    assert all(e["recorded_at"] for e in body["events"])


async def test_unknown_asset_is_404_and_tenants_do_not_mix(env: StackEnv, api: str) -> None:
    await _seed(env)
    async with httpx.AsyncClient(base_url=api) as client:
        missing = await client.get("/v1/tenants/t2/assets/mon-1")
        assert missing.status_code == 404
        assert "mon-1" in missing.json()["detail"]
        fleet = (await client.get("/v1/tenants/t1/fleet")).json()
        other = (await client.get("/v1/tenants/t2/fleet")).json()
    assert fleet["assets_by_status"] == {"in_use": 1, "taken_back": 1}
    assert fleet["active_assets"] == 1
    assert other["assets_by_status"] == {"in_use": 1}


async def test_openapi_document_lists_the_endpoints(env: StackEnv, api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        doc = (await client.get("/openapi.json")).json()
    assert {
        "/health",
        "/v1/status",
        "/v1/tenants/{tenant_id}/assets/{asset_id}",
        "/v1/tenants/{tenant_id}/fleet",
    } <= set(doc["paths"])
