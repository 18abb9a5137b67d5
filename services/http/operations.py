"""``/health``, operator-wide ``/v1/status`` and a tenant's ``/v1/tenants/{tenant}/status``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from infra.settings import Settings
from projections.postgres import reads
from services.http.auth import OperatorCaller, TenantCaller
from services.http.ingest import Rejected
from services.http.params import READ_RESPONSES, TenantPath, pool_of
from services.reports.status import TenantStatus, collect_status, collect_tenant_status
from streams.watermarks import WatermarkReader


def operations_router(settings: Settings, watermarks: WatermarkReader) -> APIRouter:
    """``watermarks`` is the API's one Kafka consumer for high-water marks (not one per
    request)."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health(request: Request) -> dict[str, str]:
        async with pool_of(request).acquire() as conn:
            await reads.ping(conn)
        return {"status": "ok"}

    @router.get(
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
            return (await collect_status(settings, conn, watermarks)).as_json()

    @router.get(
        "/v1/tenants/{tenant_id}/status",
        response_model=TenantStatus,
        tags=["operations"],
        responses=READ_RESPONSES,
    )
    async def tenant_status(
        request: Request, tenant_id: TenantPath, key: TenantCaller
    ) -> TenantStatus:
        """This tenant's assets by status, events in the log, last event recorded, events
        applied in the last minute, its unresolved dead letters by reason, and how far the
        pipeline is behind per partition."""
        async with pool_of(request).acquire() as conn:
            return await collect_tenant_status(conn, tenant_id, settings, watermarks)

    return router
