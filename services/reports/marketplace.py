"""The re-use marketplace's KPIs for a tenant's months: the internal re-use share from the KPI
aggregates beside the offers' own figures (``projections/marketplace.py``). One home for the API
(``GET .../offers/kpis``) and ``kretslopp offers kpis``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from projections import marketplace
from projections.postgres import reads
from projections.postgres.connection import Connection
from projections.postgres.reads import KpiQuery


async def marketplace_kpis(
    conn: Connection, tenant_id: str, first_month: date, last_month: date, now: datetime
) -> dict[str, Any]:
    query = KpiQuery(tenant_id, first_month, last_month)
    [whole] = await reads.kpi_slices(conn, query)
    assets = await reads.marketplace_assets(conn, tenant_id)
    return {
        "tenant_id": tenant_id,
        "internal_reuse_share": whole["kpis"]["internal_reuse_share"],
        "ended_assets": whole["kpis"]["ended_assets"],
        **marketplace.kpis(assets, first_month, query.last_day, now),
    }
