"""Read API over HTTP (FastAPI, OpenAPI document at ``/openapi.json``, docs at ``/docs``).

Reads only PostgreSQL. Field names carry their units (``_kg_co2e``, ``_kg``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from infra.settings import Settings
from projections.database import create_pool
from projections.migrate import migrate
from services.status import collect_status


class Anomaly(BaseModel):
    event_id: str
    event_type: str
    occurred_at: datetime
    kind: str


class AssetView(BaseModel):
    tenant_id: str
    asset_id: str
    status: str | None
    category: str | None
    manufacturer: str | None
    model: str | None
    serial: str | None
    supplier: str | None
    condition: str | None
    org_unit: str | None
    purchased_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    repair_count: int
    redeploy_count: int
    refurbish_count: int
    certifications: list[str]
    product_carbon_footprint_kg_co2e: float | None
    weight_kg: float | None
    incomplete_history: bool
    anomaly_count: int
    anomalies: list[Anomaly]
    event_count: int


class HistoryEvent(BaseModel):
    event_id: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    payload: dict[str, Any]


class AssetDetail(BaseModel):
    asset: AssetView
    events: list[HistoryEvent]


class FleetCount(BaseModel):
    category: str | None
    status: str | None
    assets: int


class FleetSummary(BaseModel):
    tenant_id: str
    assets: int
    counts: list[FleetCount]


def create_api(settings: Settings) -> FastAPI:
    _, dsn = settings.require_endpoints()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=1, max_size=8)
        async with pool.acquire() as conn:
            await migrate(conn)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="kretslopp",
        version="0.1.0",
        summary="Circular-IT asset lifecycle projections and KPIs.",
        lifespan=lifespan,
    )

    def pool_of(request: Request) -> asyncpg.Pool:
        pool: asyncpg.Pool = request.app.state.pool
        return pool

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> dict[str, str]:
        await pool_of(request).fetchval("SELECT 1")
        return {"status": "ok"}

    @app.get("/v1/status", tags=["operations"])
    async def status() -> dict[str, Any]:
        """Per-partition checkpoint, high-water mark and lag; dead letters by reason."""
        return (await collect_status(settings)).as_json()

    @app.get(
        "/v1/tenants/{tenant_id}/assets/{asset_id}",
        response_model=AssetDetail,
        tags=["assets"],
        responses={404: {"description": "No event was ever recorded for this asset"}},
    )
    async def asset(request: Request, tenant_id: str, asset_id: str) -> AssetDetail:
        """One asset's current state and its full event history in lifecycle order."""
        pool = pool_of(request)
        row = await pool.fetchrow(
            "SELECT * FROM asset_state WHERE tenant_id = $1 AND asset_id = $2",
            tenant_id,
            asset_id,
        )
        if row is None:
            raise HTTPException(404, detail=f"asset {asset_id!r} of tenant {tenant_id!r} not found")
        events = await pool.fetch(
            "SELECT event_id::text, event_type, occurred_at, recorded_at, source, payload "
            "FROM event_log WHERE tenant_id = $1 AND asset_id = $2 "
            "ORDER BY occurred_at, event_id",
            tenant_id,
            asset_id,
        )
        view = AssetView.model_validate(dict(row))
        return AssetDetail(
            asset=view, events=[HistoryEvent.model_validate(dict(e)) for e in events]
        )

    @app.get("/v1/tenants/{tenant_id}/fleet", response_model=FleetSummary, tags=["assets"])
    async def fleet(request: Request, tenant_id: str) -> FleetSummary:
        """Assets by category and lifecycle status."""
        rows = await pool_of(request).fetch(
            "SELECT category, status, count(*) AS assets FROM asset_state "
            "WHERE tenant_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
            tenant_id,
        )
        counts = [FleetCount.model_validate(dict(r)) for r in rows]
        return FleetSummary(
            tenant_id=tenant_id, assets=sum(c.assets for c in counts), counts=counts
        )

    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    from infra.structured_logging import configure

    configure(settings.log_level)
    uvicorn.run(
        create_api(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
    )
