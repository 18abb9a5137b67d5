"""``/v1/tenants/{tenant}/lifespan/survival``: the Kaplan-Meier survival curve of devices from
purchase, devices still in use counted as censored (docs/methodology.md, "Lifespan survival")."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from events.models import Category
from projections.postgres import reads
from projections.postgres.kpi_store import settings_timeline
from projections.survival import kaplan_meier, observe
from services.http.auth import TenantCaller
from services.http.params import READ_RESPONSES, FilterValue, TenantPath, pool_of


class CurveStep(BaseModel):
    years: float = Field(description="Age from purchase at which devices ended.")
    at_risk: int = Field(description="Devices in use (not ended, not censored) just before.")
    ended: int
    survival: float = Field(description="S(t): share expected still in use past this age.")
    ci_lower: float
    ci_upper: float


class YearRow(BaseModel):
    year: int
    at_risk: int = Field(description="Devices observed for at least this many years.")
    survival: float = Field(description="S just before this age: life of at least `year`.")
    ci_lower: float
    ci_upper: float


class SurvivalReport(BaseModel):
    """Shares are 0..1; a None median means S has not fallen to 0.5 yet ("not reached")."""

    tenant_id: str
    category: str | None
    supplier: str | None
    as_of: datetime
    method: str
    assets: int = Field(description="Devices with a known purchase date in the curve.")
    ended: int
    censored: int = Field(description="Devices still in use: censored at as_of.")
    excluded_unknown_purchase: int = Field(
        description="Devices known only from later events (incomplete history): no age."
    )
    median_years: float | None
    median_ci_lower_years: float | None
    median_ci_upper_years: float | None
    target_years: float | None = Field(
        description="The tenant's target lifespan for the category (only with `category`)."
    )
    reached_target_share: float | None = Field(
        description="Share expected to reach the target lifespan: S just before the target."
    )
    reached_target_ci_lower: float | None
    reached_target_ci_upper: float | None
    by_year: list[YearRow]
    curve: list[CurveStep]


METHOD = "Kaplan-Meier; 95 % confidence interval: exponential Greenwood (log-log)"


def lifespan_router() -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/tenants/{tenant_id}/lifespan/survival",
        response_model=SurvivalReport,
        tags=["kpis"],
        responses=READ_RESPONSES,
    )
    async def survival(
        request: Request,
        tenant_id: TenantPath,
        key: TenantCaller,
        category: FilterValue = None,
        supplier: FilterValue = None,
    ) -> SurvivalReport:
        """How long devices stay in use: the survival curve S(t) from purchase, the median
        survival time with its 95 % CI, the share expected to reach the target lifespan and
        the number at risk at each year. Devices still in use are censored now, so the
        long-lived ones are not missing as they are from the mean lifespan of ended devices."""
        now = datetime.now(UTC)
        async with pool_of(request).acquire() as conn:
            histories = await reads.lifespan_histories(conn, tenant_id, category, supplier)
            settings = (await settings_timeline(conn, tenant_id)).at(now)
        seen = [observe(bought, ended, now) for bought, ended in histories]
        curve = kaplan_meier(o for o in seen if o is not None)
        target = settings.target(category) if category in {c.value for c in Category} else None
        return SurvivalReport.model_validate(
            {
                "tenant_id": tenant_id,
                "category": category,
                "supplier": supplier,
                "as_of": now,
                "method": METHOD,
                "excluded_unknown_purchase": sum(1 for b, _ in histories if b is None),
                **curve.summary(target),
                "curve": [s.as_json() for s in curve.steps],
            }
        )

    return router
