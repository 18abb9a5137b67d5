"""``/v1/tenants/{tenant}/kpis`` and ``/fleet``: the circular-IT KPIs and the active fleet
(definitions: docs/methodology.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from projections.carbon import FactorTable
from projections.postgres import reads
from projections.postgres.connection import one_snapshot, spare_connection
from projections.postgres.reads import Dimension, KpiQuery
from services.http.auth import TenantCaller
from services.http.params import (
    READ_RESPONSES,
    FilterValue,
    Month,
    TenantPath,
    month_start,
    pool_of,
)


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
    internal_reuse_share: float | None
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


def kpis_router(table: FactorTable) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/tenants/{tenant_id}/fleet",
        response_model=FleetOverview,
        tags=["kpis"],
        responses=READ_RESPONSES,
    )
    async def fleet(request: Request, tenant_id: TenantPath, key: TenantCaller) -> FleetOverview:
        """Active devices now, their average age and the share past the target lifespan."""
        pool = pool_of(request)
        now = datetime.now(UTC)
        async with pool.acquire() as conn, spare_connection(pool) as spare:
            if spare is None:
                overview = await reads.fleet_overview(conn, tenant_id, now)
                overview["assets_by_status"] = await reads.assets_by_status(conn, tenant_id)
            else:
                async with one_snapshot(conn, spare):
                    overview, by_status = await asyncio.gather(
                        reads.fleet_overview(conn, tenant_id, now),
                        reads.assets_by_status(spare, tenant_id),
                    )
                overview["assets_by_status"] = by_status
        return FleetOverview.model_validate(overview)

    @router.get(
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
        first, last = month_start(from_month), month_start(to_month)
        if last < first:
            raise HTTPException(422, detail="to: must not be before from")
        query = KpiQuery(
            tenant_id, first, last, tuple(group_by or ()), category, supplier, org_unit
        )
        pool = pool_of(request)
        async with pool.acquire() as conn, spare_connection(pool) as spare:
            if spare is None:
                slices = await reads.kpi_slices(conn, query)
            else:
                async with one_snapshot(conn, spare):
                    slices = await reads.kpi_slices(conn, query, medians_conn=spare)
        return KpiReport(
            tenant_id=tenant_id,
            from_month=from_month,
            to_month=to_month,
            group_by=list(query.group_by),
            factor_source=table.source,
            factor_version=table.version,
            slices=[KpiSlice.model_validate(s) for s in slices],
        )

    return router
