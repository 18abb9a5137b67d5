"""The HTTP API (FastAPI; OpenAPI document at ``/openapi.json``, docs at ``/docs``): the ingest
gateway and adapters (``services/http/ingest.py``) and the read endpoints below.

Reads come from PostgreSQL only (``/v1/status`` also asks Kafka for high-water marks). Field
names carry their units (``_kg_co2e``, ``_kg``, ``_years``, ``_share`` in 0..1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from events.codec import EVENT_ADAPTER
from infra.settings import Settings
from projections.carbon import factor_table
from projections.postgres import reads
from projections.postgres.connection import create_pool
from projections.postgres.migrate import migrate
from projections.postgres.reads import Dimension, KpiQuery
from services.http.auth import OperatorCaller, TenantCaller
from services.http.ingest import Rejected, gateway_router
from services.http.request_context import request_context
from services.intake.publisher import Publisher
from services.reports.status import TenantStatus, collect_status, collect_tenant_status


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
    """Definitions: docs/methodology.md, "KPI definitions". Shares are 0..1, None when the
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


# Years 1980-2999: occurred_at cannot lie outside them, and year 0 or 9999 broke the date
# arithmetic (500s before, issue #12).
Month = Annotated[str, Query(pattern=r"^(19[89]\d|2\d{3})-(0[1-9]|1[0-2])$", examples=["2024-01"])]
# Identifiers and filter values: the contract's ids and names carry no control characters,
# and PostgreSQL text cannot hold NUL (a %00 in a path or query was a 500).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
TenantPath = Annotated[str, Path(min_length=1, max_length=128, pattern=_NO_CONTROL)]
AssetPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=_NO_CONTROL,
        description="May contain '/': send it percent-encoded (%2F) or as is.",
    ),
]
FilterValue = Annotated[str | None, Query(max_length=200, pattern=_NO_CONTROL)]


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Rejected, "description": "Missing, unknown or revoked API key"},
    403: {"model": Rejected, "description": "The API key belongs to another tenant"},
    422: {"model": Rejected, "description": "A parameter is malformed; each one named"},
}


async def parameter_rejected(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422 (a list ``detail``) in the documented ``Rejected`` shape."""
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("query", "path", "header", "body", "cookie"):
            loc = loc[1:]
        errors.append(
            {"index": None, "event_id": None, "field": ".".join(loc), "reason": err["msg"]}
        )
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})


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
    table = factor_table(settings.factor_source)
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
        description="Every `/v1` endpoint needs an API key (`kretslopp keys create`), sent as "
        "`Authorization: Bearer <key>`. A tenant key reads and writes one tenant; an operator "
        "key (`keys create --operator`) reads `/v1/status` only. `/health` and this document "
        "(`/openapi.json`, `/docs`, `/redoc`) need no key: they hold no tenant data.",
        lifespan=lifespan,
    )
    app.middleware("http")(request_context)
    app.add_exception_handler(RequestValidationError, parameter_rejected)  # type: ignore[arg-type]
    app.include_router(gateway_router(publisher))
    install_event_schema(app)

    def pool_of(request: Request) -> asyncpg.Pool:
        pool: asyncpg.Pool = request.app.state.pool
        return pool

    @app.get("/health", tags=["operations"])
    async def health(request: Request) -> dict[str, str]:
        async with pool_of(request).acquire() as conn:
            await reads.ping(conn)
        return {"status": "ok"}

    @app.get(
        "/v1/status",
        tags=["operations"],
        responses={
            401: {"model": Rejected, "description": "Missing, unknown or revoked API key"},
            403: {"model": Rejected, "description": "Not an operator key"},
        },
    )
    async def status(request: Request, key: OperatorCaller) -> dict[str, Any]:
        """Operator-wide: per-partition checkpoint, high-water mark and lag; dead letters by
        reason; totals over all tenants. Needs an operator key (``keys create --operator``)."""
        async with pool_of(request).acquire() as conn:
            return (await collect_status(settings, conn)).as_json()

    @app.get(
        "/v1/tenants/{tenant_id}/status",
        response_model=TenantStatus,
        tags=["operations"],
        responses=READ_RESPONSES,
    )
    async def tenant_status(
        request: Request, tenant_id: TenantPath, key: TenantCaller
    ) -> TenantStatus:
        """This tenant's assets by status, events in the log, last event recorded, and its
        unresolved dead letters by reason."""
        async with pool_of(request).acquire() as conn:
            return await collect_tenant_status(conn, tenant_id)

    @app.get(
        "/v1/tenants/{tenant_id}/assets/{asset_id:path}",
        response_model=AssetDetail,
        tags=["assets"],
        responses={
            **READ_RESPONSES,
            404: {"model": Rejected, "description": "No event was ever recorded for this asset"},
        },
    )
    async def asset(
        request: Request, tenant_id: TenantPath, asset_id: AssetPath, key: TenantCaller
    ) -> AssetDetail:
        """One asset's current state and its full event history in lifecycle order."""
        async with pool_of(request).acquire() as conn:
            found = await reads.asset_with_history(conn, tenant_id, asset_id)
        if found is None:
            raise HTTPException(404, detail=f"asset {asset_id!r} of tenant {tenant_id!r} not found")
        row, events = found
        view = AssetView.model_validate(row)
        return AssetDetail(asset=view, events=[HistoryEvent.model_validate(e) for e in events])

    @app.get(
        "/v1/tenants/{tenant_id}/fleet",
        response_model=FleetOverview,
        tags=["kpis"],
        responses=READ_RESPONSES,
    )
    async def fleet(request: Request, tenant_id: TenantPath, key: TenantCaller) -> FleetOverview:
        """Active devices now, their average age and the share past the target lifespan."""
        async with pool_of(request).acquire() as conn:
            overview = await reads.fleet_overview(conn, tenant_id, datetime.now(UTC))
            overview["assets_by_status"] = await reads.assets_by_status(conn, tenant_id)
        return FleetOverview.model_validate(overview)

    @app.get(
        "/v1/tenants/{tenant_id}/kpis",
        response_model=KpiReport,
        tags=["kpis"],
        responses=READ_RESPONSES,
    )
    async def kpis(
        request: Request,
        tenant_id: TenantPath,
        key: TenantCaller,
        from_month: Annotated[Month, Query(alias="from")],
        to_month: Annotated[Month, Query(alias="to")],
        group_by: Annotated[list[Dimension] | None, Query()] = None,
        category: FilterValue = None,
        supplier: FilterValue = None,
        org_unit: FilterValue = None,
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
            slices = await reads.kpi_slices(conn, query)
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
