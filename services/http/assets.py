"""``/v1/tenants/{tenant}/assets/{asset}``: one asset's state and its whole history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from projections.postgres import reads
from services.http.auth import TenantCaller
from services.http.ingest import Rejected
from services.http.params import READ_RESPONSES, AssetPath, TenantPath, pool_of


class Anomaly(BaseModel):
    event_id: str
    event_type: str
    occurred_at: datetime
    kind: str
    reason: str | None = None


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
    offers: list[dict[str, Any]] = Field(
        default=[], description="Its offers on the internal re-use marketplace, oldest first."
    )
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


def assets_router() -> APIRouter:
    router = APIRouter()

    @router.get(
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

    return router
