"""``/v1/tenants/{tenant}/reports/takeback``: the 11180:1 take-back report, the same as
``kretslopp report takeback`` (docs/methodology.md, "Take-back report (11180:1)")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from infra.settings import Settings
from projections.carbon import factor_table
from services.http.auth import TenantCaller
from services.http.params import READ_RESPONSES, FilterValue, TenantPath, pool_of
from services.reports import takeback
from services.reports.csrd import as_of_instant

_DAY = r"^(19[89]\d|2\d{3})-\d{2}-\d{2}$"


class Payment(BaseModel):
    amount: float
    currency: str
    for_: str = Field(alias="for", description="take_back or recycling")


class TakeBackUnit(BaseModel):
    """One unit sent in. A None is a fact no event reported; ``missing`` names them."""

    asset_id: str
    category: str | None
    manufacturer: str | None
    model: str | None
    serial: str | None
    supplier: str | None
    decommissioned_on: str
    counterparty: str
    channel: str = Field(
        description="resale, refurbishment, donation, recycling, or "
        "direct_recycling (recycled with no take-back before)"
    )
    certificate: str | None
    data_erasure_certificate: str | None
    intake_test: str | None
    preparation_test: str | None
    test_result: str = Field(description="passed, failed or not_tested (the latest test)")
    test_report_references: list[str]
    outcome: str = Field(description="reused, recycled, discarded or not_reported")
    outcome_on: str | None
    place: str = Field(description="inside_eu_eea, outside_eu_eea or eu_eea_unknown")
    co2e_saved_kg: float | None
    compensation: list[Payment]
    missing: list[str]


class OutcomeTotals(BaseModel):
    units: int
    share: float | None
    inside_eu_eea: int
    outside_eu_eea: int
    eu_eea_unknown: int


class TakeBackTotals(BaseModel):
    units: int
    by_outcome: dict[str, OutcomeTotals]
    co2e_saved_kg: float
    reused_units_without_saving: int
    compensation_by_currency: dict[str, float]
    units_with_missing_facts: int
    missing_by_fact: dict[str, int]
    test_results: dict[str, int]


class TakeBackReport(BaseModel):
    tenant_id: str
    condition: str
    from_: str = Field(alias="from")
    to: str
    supplier: str | None
    counterparty: str | None
    as_of: str | None
    basis: str
    method: dict[str, Any]
    units: list[TakeBackUnit]
    totals: TakeBackTotals


def reports_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    table = factor_table(settings.factor_source)

    @router.get(
        "/v1/tenants/{tenant_id}/reports/takeback",
        response_model=TakeBackReport,
        response_model_by_alias=True,
        tags=["reports"],
        responses=READ_RESPONSES,
    )
    async def takeback_report(
        request: Request,
        tenant_id: TenantPath,
        key: TenantCaller,
        first: Annotated[str, Query(alias="from", pattern=_DAY, examples=["2026-01-01"])],
        last: Annotated[str, Query(alias="to", pattern=_DAY, examples=["2026-12-31"])],
        supplier: FilterValue = None,
        counterparty: FilterValue = None,
        as_of: Annotated[
            str | None, Query(pattern=_DAY, description="YYYY-MM-DD: as known at its end")
        ] = None,
    ) -> Any:
        """Swedish procurement condition 11180:1: every unit sent in from ``from`` to ``to``
        (UTC days, inclusive) with make, model, serial, decommissioning date, functional tests,
        data erasure, what became of it and where, CO2e saved by reuse and compensation paid;
        the shares and totals. Facts no event reported are named per unit in ``missing``."""
        try:
            period = takeback.period_of(first, last)
        except takeback.PeriodError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        try:
            as_of_instant(as_of)
        except ValueError:
            raise HTTPException(422, detail=f"as_of: {as_of!r} is not a date") from None
        async with pool_of(request).acquire() as conn:
            return await takeback.takeback_report(
                conn,
                tenant_id,
                period,
                supplier=supplier,
                counterparty=counterparty,
                as_of=as_of,
                table=table,
            )

    return router
