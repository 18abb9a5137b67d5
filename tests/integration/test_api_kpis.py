"""KPI and fleet endpoints over real HTTP, on a golden tenant computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from events.models import Category
from projections.batch import SourceRecord, prepare
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.postgres.connection import connect
from projections.postgres.kpi_store import store_tenant_settings
from projections.postgres.migrate import migrate
from projections.postgres.writer import apply_batch
from projections.tenant_settings import TenantSettings
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, auth, write_directly

JAN = datetime(2021, 1, 10, tzinfo=UTC)
MAR_2025 = datetime(2025, 3, 5, tzinfo=UTC)


def _golden() -> list[dict[str, object]]:
    """Tenant g: four laptops bought January 2021 from two suppliers, three ended March 2025.

    pc1 Atea, E=251 (primary), TCO valid, taken back (refurbishment) after 1461 days = 4.0 y,
        refurbished with R=18 -> longer life 251 x (4/3 - 1) = 83.667; reuse 0.5 x 233 = 116.5
    pc2 Atea, no PCF (secondary 241), expired TCO, recycled directly after 4.0 y
        -> longer life 241 x (4/3 - 1) = 80.333
    pc3 Dustin, condition refurbished, no cert, taken back (resale) after 4.0 y
        -> longer life 80.333; refurbished purchase 241 - 24.1 (10 % default R) = 216.9
    pc4 Dustin, EPEAT, still in use
    """
    ended = JAN + timedelta(days=1461)
    assert ended.month == 1 and ended.year == 2025
    end = MAR_2025
    tco_valid = [{"scheme": "tco_certified", "valid_until": "2023-01-01"}]
    tco_expired = [{"scheme": "tco_certified", "valid_until": "2020-06-30"}]
    return [
        event_dict(
            "purchased",
            tenant="g",
            asset="pc1",
            at=JAN,
            supplier="Atea",
            product_carbon_footprint_kg_co2e=251.0,
            certifications=tco_valid,
            weight_kg=1.5,
        ),
        event_dict(
            "purchased",
            tenant="g",
            asset="pc2",
            at=JAN,
            supplier="Atea",
            certifications=tco_expired,
            weight_kg=1.5,
        ),
        event_dict(
            "purchased", tenant="g", asset="pc3", at=JAN, supplier="Dustin", condition="refurbished"
        ),
        event_dict(
            "purchased",
            tenant="g",
            asset="pc4",
            at=JAN,
            supplier="Dustin",
            certifications=[{"scheme": "epeat"}],
        ),
        event_dict(
            "taken_back",
            tenant="g",
            asset="pc1",
            at=end - timedelta(days=0),
            channel="refurbishment",
        ),
        event_dict(
            "refurbished",
            tenant="g",
            asset="pc1",
            at=end + timedelta(days=30),
            refurbishment_footprint_kg_co2e=18.0,
        ),
        event_dict("recycled", tenant="g", asset="pc2", at=end),
        event_dict("taken_back", tenant="g", asset="pc3", at=end, channel="resale"),
    ]


async def _seed(env: StackEnv) -> None:
    records = [SourceRecord(0, i, None, orjson.dumps(o)) for i, o in enumerate(_golden())]
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await store_tenant_settings(
            conn,
            "g",
            TenantSettings(
                baseline_years={Category.LAPTOP: 3.0},
                displacement_rate=0.5,
                target_lifespan_years={Category.LAPTOP: 4.1},
            ),
            BOAVIZTA_PCF_MEDIAN,
        )
        await apply_batch(conn, "g", "t", prepare(records))
    finally:
        await conn.close()


def _years(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400 / 365.25


async def test_golden_tenant_kpis(env: StackEnv, api: str) -> None:
    await _seed(env)
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "g")) as client:
        whole = (
            await client.get("/v1/tenants/g/kpis", params={"from": "2021-01", "to": "2025-12"})
        ).json()
        by_supplier = (
            await client.get(
                "/v1/tenants/g/kpis",
                params={"from": "2025-01", "to": "2025-12", "group_by": "supplier"},
            )
        ).json()
        by_month = (
            await client.get(
                "/v1/tenants/g/kpis",
                params={"from": "2021-01", "to": "2025-12", "group_by": ["month"]},
            )
        ).json()
    assert whole["factor_source"] == "boavizta-pcf-median"
    [total] = whole["slices"]
    k = total["kpis"]
    life = _years(JAN, MAR_2025)  # 4.15 years for each of the three
    assert k["purchases"] == 4
    assert k["certification_share"] == 0.5  # pc1 (valid TCO) and pc4 (EPEAT); pc2 expired
    assert k["certification_share_by_scheme"]["tco_certified"] == 0.25
    assert k["certification_share_by_scheme"]["epeat"] == 0.25
    assert k["refurbished_purchase_share"] == 0.25
    assert k["purchased_weight_kg"] == 3.0
    assert k["purchases_with_weight"] == 2
    assert k["ended_assets"] == 3
    assert k["taken_back_share"] == pytest.approx(2 / 3)
    assert k["ended_by_channel"] == {
        "taken_back_resale": 1,
        "taken_back_refurbishment": 1,
        "taken_back_donation": 0,
        "taken_back_recycling": 0,
        "recycled_directly": 1,
    }
    assert k["lifespan_mean_years"] == pytest.approx(life)
    assert k["lifespan_median_years"] == pytest.approx(life)
    assert k["reached_target_share"] == 1.0  # 4.15 >= target 4.1
    assert k["second_life_share"] == 0.5  # pc1 refurbished, pc3 not (yet)
    assert k["savings_longer_life_kg_co2e"] == pytest.approx(
        round(251 * (life / 3 - 1), 3) + 2 * round(241 * (life / 3 - 1), 3), abs=0.002
    )
    assert k["savings_reuse_after_take_back_kg_co2e"] == 116.5  # 0.5 x (251 - 18)
    assert k["savings_refurbished_purchase_kg_co2e"] == 216.9  # 241 - 24.1
    assert k["savings_primary_data_share"] == 0.4  # pc1's two rows of five

    suppliers = {s["dimensions"]["supplier"]: s["kpis"] for s in by_supplier["slices"]}
    assert set(suppliers) == {"Atea", "Dustin"}
    assert suppliers["Atea"]["ended_assets"] == 2
    assert suppliers["Atea"]["taken_back_share"] == 0.5
    assert suppliers["Dustin"]["ended_assets"] == 1
    assert suppliers["Dustin"]["taken_back_share"] == 1.0
    assert suppliers["Atea"]["purchases"] == 0  # purchases were in 2021, outside the range

    months = {s["dimensions"]["month"]: s["kpis"] for s in by_month["slices"]}
    assert set(months) == {"2021-01", "2025-03", "2025-04"}
    assert months["2021-01"]["purchases"] == 4
    assert months["2025-03"]["ended_assets"] == 3
    assert months["2025-04"]["savings_reuse_after_take_back_kg_co2e"] == 116.5


async def test_filters_and_bad_parameters(env: StackEnv, api: str) -> None:
    await _seed(env)
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "g")) as client:
        dustin = (
            await client.get(
                "/v1/tenants/g/kpis",
                params={"from": "2021-01", "to": "2025-12", "supplier": "Dustin"},
            )
        ).json()
        bad_month = await client.get(
            "/v1/tenants/g/kpis", params={"from": "2021-13", "to": "2025-01"}
        )
        reversed_range = await client.get(
            "/v1/tenants/g/kpis", params={"from": "2025-01", "to": "2021-01"}
        )
        bad_group = await client.get(
            "/v1/tenants/g/kpis", params={"from": "2021-01", "to": "2021-01", "group_by": "colour"}
        )
        empty = (
            await client.get(
                "/v1/tenants/nobody/kpis",
                params={"from": "2021-01", "to": "2021-01"},
                headers=await auth(env, "nobody"),
            )
        ).json()
    assert dustin["slices"][0]["kpis"]["purchases"] == 2
    assert bad_month.status_code == 422
    assert [e["field"] for e in bad_month.json()["errors"]] == ["from"]  # documented shape
    assert reversed_range.status_code == 422
    assert "to" in reversed_range.json()["detail"]
    assert bad_group.status_code == 422
    assert bad_group.json()["errors"][0]["field"].startswith("group_by")
    assert empty["slices"][0]["kpis"]["purchases"] == 0
    assert empty["slices"][0]["kpis"]["certification_share"] is None


async def test_fleet_overview_average_age_and_share_past_target(env: StackEnv, api: str) -> None:
    now = datetime.now(UTC)
    objects = [
        event_dict("purchased", tenant="f", asset="young", at=now - timedelta(days=730)),
        event_dict("purchased", tenant="f", asset="old", at=now - timedelta(days=2191)),
        event_dict("purchased", tenant="f", asset="gone", at=now - timedelta(days=3000)),
        event_dict("recycled", tenant="f", asset="gone", at=now - timedelta(days=10)),
        event_dict("repaired", tenant="f", asset="unknown-age", at=now - timedelta(days=5)),
    ]
    await write_directly(env, objects)
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "f")) as client:
        fleet = (await client.get("/v1/tenants/f/fleet")).json()
    assert fleet["active_assets"] == 3
    assert fleet["assets_with_known_age"] == 2
    assert fleet["average_age_years"] == pytest.approx((730 + 2191) / 2 / 365.25, abs=0.01)
    assert fleet["past_target_lifespan_share"] == 0.5  # laptop target 4 y: 6 y old is past
    assert fleet["target_lifespan_years"]["laptop"] == 4.0
    assert fleet["by_category"]["laptop"]["active_assets"] == 2
    assert fleet["by_category"][""]["assets_with_known_age"] == 0


async def test_lifespan_survival_curve_counts_devices_in_use_as_censored(
    env: StackEnv, api: str
) -> None:
    """Four laptops and a monitor: laptops ended after 2 and 4 years, two still in use at 3 and
    5 years; one device known only from a repair. By hand: S(2) = 3/4, S(4) = 3/4 x 1/2 = 3/8
    (at 4 years two are at risk: the one ending and the one in use for 5), median 4 years;
    the mean of the ended laptops alone would say 3 years."""
    now = datetime.now(UTC)
    day = timedelta(days=365.25)

    def bought(asset: str, years_ago: float, **kw: Any) -> dict[str, Any]:
        return event_dict("purchased", tenant="s", asset=asset, at=now - years_ago * day, **kw)

    objects = [
        bought("a", 6),
        event_dict("recycled", tenant="s", asset="a", at=now - 4 * day),  # ended after 2 y
        bought("b", 7, supplier="Dustin"),
        event_dict("taken_back", tenant="s", asset="b", at=now - 3 * day),  # ended after 4 y
        bought("c", 3),  # in use for 3 y
        bought("d", 5),  # in use for 5 y
        bought("m", 1, category="monitor"),
        event_dict("repaired", tenant="s", asset="unknown", at=now - day),
    ]
    await write_directly(env, objects)
    async with httpx.AsyncClient(base_url=api, headers=await auth(env, "s")) as client:
        laptops = await client.get("/v1/tenants/s/lifespan/survival", params={"category": "laptop"})
        dustin = (
            await client.get("/v1/tenants/s/lifespan/survival", params={"supplier": "Dustin"})
        ).json()
        everyone = (await client.get("/v1/tenants/s/lifespan/survival")).json()
        bad = await client.get("/v1/tenants/s/lifespan/survival", params={"category": "a\x00"})
        other = await client.get("/v1/tenants/s/lifespan/survival", headers=await auth(env, "x"))
    assert laptops.status_code == 200, laptops.text
    body = laptops.json()
    assert (body["assets"], body["ended"], body["censored"]) == (4, 2, 2)
    assert [(round(s["years"], 3), s["at_risk"], s["ended"]) for s in body["curve"]] == [
        (2.0, 4, 1),
        (4.0, 2, 1),
    ]
    assert [s["survival"] for s in body["curve"]] == [0.75, 0.375]
    assert body["median_years"] == pytest.approx(4.0, abs=1e-3)
    assert body["median_ci_lower_years"] == pytest.approx(2.0, abs=1e-3)
    assert body["median_ci_upper_years"] is None  # the upper band stays above 0.5
    assert body["target_years"] == 4.0  # the laptop default
    assert body["reached_target_share"] == 0.75  # S just before 4 years
    assert [(r["year"], r["at_risk"]) for r in body["by_year"]] == [
        (0, 4),
        (1, 4),
        (2, 4),
        (3, 3),
        (4, 2),
        (5, 1),
    ]
    for step in body["curve"]:
        assert 0 <= step["ci_lower"] <= step["survival"] <= step["ci_upper"] <= 1
    assert (dustin["assets"], dustin["ended"], dustin["target_years"]) == (1, 1, None)
    assert everyone["assets"] == 5 and everyone["excluded_unknown_purchase"] == 1
    assert bad.status_code == 422
    assert other.status_code == 403
