"""The HTTP API (FastAPI; OpenAPI document at ``/openapi.json``, docs at ``/docs``): the ingest
gateway and adapters (``services/gateway.py``) and the read endpoints below.

Reads come from PostgreSQL only (``/v1/status`` also asks Kafka for high-water marks). Field
names carry their units (``_kg_co2e``, ``_kg``, ``_years``, ``_share`` in 0..1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

from events.codec import EVENT_ADAPTER
from infra.settings import Settings
from projections.database import create_pool
from projections.migrate import migrate
from services.gateway import gateway_router
from services.http_auth import Caller, TenantCaller
from services.kpi_queries import Dimension, KpiQuery, fleet_overview, kpi_slices
from services.publisher import Publisher
from services.request_context import request_context
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


class CategoryFleet(BaseModel):
    active_assets: int
    assets_with_known_age: int
    average_age_years: float | None
    past_target_lifespan_share: float | None


class FleetOverview(CategoryFleet):
    tenant_id: str
    as_of: datetime
    target_lifespan_years: dict[str, float]
    by_category: dict[str, CategoryFleet] = Field(
        description="'' is the category of assets bought before kretslopp knew them."
    )
    assets_by_status: dict[str, int]


class KpiValues(BaseModel):
    """Definitions: shared/domain.md, "KPI definitions". Shares are 0..1, None when the
    denominator is 0. Savings per method, never netted."""

    purchases: int
    certification_share: float | None
    certification_share_by_scheme: dict[str, float | None]
    refurbished_purchase_share: float | None
    purchased_weight_kg: float
    purchases_with_weight: int
    ended_assets: int
    lifespan_known_assets: int
    lifespan_mean_years: float | None
    lifespan_median_years: float | None
    reached_target_share: float | None
    taken_back_share: float | None
    ended_by_channel: dict[str, int]
    taken_back_assets: int
    second_life_share: float | None
    taken_back_recycled_share: float | None
    savings_longer_life_kg_co2e: float
    savings_reuse_after_take_back_kg_co2e: float
    savings_refurbished_purchase_kg_co2e: float
    savings_primary_data_share: float | None


class KpiSlice(BaseModel):
    dimensions: dict[str, str]
    kpis: KpiValues


class KpiReport(BaseModel):
    tenant_id: str
    from_month: str
    to_month: str
    group_by: list[str]
    factor_source: str
    factor_version: str
    slices: list[KpiSlice]


Month = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2024-01"])]


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


def install_event_schema(app: FastAPI) -> None:
    """Put the event contract into the OpenAPI document (the gateway reads raw bytes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            event = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(event.pop("$defs", {}))
            schemas["LifecycleEvent"] = event
            schemas["EventOrBatch"] = {
                "oneOf": [
                    {"$ref": "#/components/schemas/LifecycleEvent"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"$ref": "#/components/schemas/LifecycleEvent"},
                    },
                ]
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_api(settings: Settings) -> FastAPI:
    kafka, dsn = settings.require_endpoints()
    table = settings.factor_table()
    publisher = Publisher(kafka, settings.topic)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=1, max_size=8)
        async with pool.acquire() as conn:
            await migrate(conn)
        app.state.pool = pool
        try:
            yield
        finally:
            await publisher.close()
            await pool.close()

    app = FastAPI(
        title="kretslopp",
        version="0.1.0",
        summary="Circular-IT asset lifecycle events in, KPIs out.",
        description="Every endpoint but /health needs an API key (`kretslopp keys create`), "
        "sent as `Authorization: Bearer <key>`; a key is scoped to one tenant.",
        lifespan=lifespan,
    )
    app.middleware("http")(request_context)
    app.include_router(gateway_router(publisher))
    install_event_schema(app)

    def pool_of(request: Request) -> asyncpg.Pool:
        pool: asyncpg.Pool = request.app.state.pool
        return pool

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> dict[str, str]:
        await pool_of(request).fetchval("SELECT 1")
        return {"status": "ok"}

    @app.get("/v1/status", tags=["operations"])
    async def status(key: Caller) -> dict[str, Any]:
        """Per-partition checkpoint, high-water mark and lag; dead letters by reason."""
        return (await collect_status(settings)).as_json()

    @app.get(
        "/v1/tenants/{tenant_id}/assets/{asset_id}",
        response_model=AssetDetail,
        tags=["assets"],
        responses={404: {"description": "No event was ever recorded for this asset"}},
    )
    async def asset(
        request: Request, tenant_id: str, asset_id: str, key: TenantCaller
    ) -> AssetDetail:
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

    @app.get("/v1/tenants/{tenant_id}/fleet", response_model=FleetOverview, tags=["kpis"])
    async def fleet(request: Request, tenant_id: str, key: TenantCaller) -> FleetOverview:
        """Active devices now, their average age and the share past the target lifespan."""
        async with pool_of(request).acquire() as conn:
            overview = await fleet_overview(conn, tenant_id, datetime.now(UTC))
            rows = await conn.fetch(
                "SELECT status, count(*) AS n FROM asset_state WHERE tenant_id = $1 "
                "GROUP BY status ORDER BY status",
                tenant_id,
            )
        overview["assets_by_status"] = {r["status"]: r["n"] for r in rows}
        return FleetOverview.model_validate(overview)

    @app.get(
        "/v1/tenants/{tenant_id}/kpis",
        response_model=KpiReport,
        tags=["kpis"],
        responses={422: {"description": "A parameter is malformed; the detail names it"}},
    )
    async def kpis(
        request: Request,
        tenant_id: str,
        key: TenantCaller,
        from_month: Annotated[Month, Query(alias="from")],
        to_month: Annotated[Month, Query(alias="to")],
        group_by: Annotated[list[Dimension] | None, Query()] = None,
        category: str | None = None,
        supplier: str | None = None,
        org_unit: str | None = None,
    ) -> KpiReport:
        """Circular-IT KPIs for the months ``from``..``to`` (inclusive, UTC), optionally
        sliced by category, supplier, org unit and month (repeat ``group_by``)."""
        first, last = _month(from_month), _month(to_month)
        if last < first:
            raise HTTPException(422, detail="to: must not be before from")
        query = KpiQuery(
            tenant_id, first, last, tuple(group_by or ()), category, supplier, org_unit
        )
        async with pool_of(request).acquire() as conn:
            slices = await kpi_slices(conn, query)
        return KpiReport(
            tenant_id=tenant_id,
            from_month=from_month,
            to_month=to_month,
            group_by=list(query.group_by),
            factor_source=table.source,
            factor_version=table.version,
            slices=[KpiSlice.model_validate(s) for s in slices],
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
