"""A hand-computed golden tenant-year: every CSRD datapoint asserted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.models import LifecycleEvent
from projections.asset_state import fold_all
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.csrd import (
    ReportContext,
    assemble,
    asset_datapoints,
    flatten,
    survival_appendix,
    total,
)
from projections.tenant_settings import SettingsTimeline, SettingsVersion, TenantSettings
from tests.factories import event


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def years(start: str, end: str) -> float:
    return (d(end) - d(start)).days / 365.25


def golden() -> list[LifecycleEvent]:
    t = "g"
    return [
        # bought in 2025
        event(
            "purchased",
            tenant=t,
            asset="pc1",
            at=d("2025-02-01"),
            weight_kg=1.5,
            product_carbon_footprint_kg_co2e=251.0,
            certifications=[{"scheme": "tco_certified", "valid_until": "2027-01-01"}],
        ),
        event("purchased", tenant=t, asset="pc2", at=d("2025-03-01"), condition="refurbished"),
        event(
            "purchased",
            tenant=t,
            asset="mon1",
            at=d("2025-04-01"),
            category="monitor",
            weight_kg=5.0,
        ),
        # left the organisation in 2025
        event("purchased", tenant=t, asset="old1", at=d("2021-01-01"), weight_kg=1.6),
        event("taken_back", tenant=t, asset="old1", at=d("2025-06-01"), channel="resale"),
        event(
            "purchased",
            tenant=t,
            asset="old2",
            at=d("2019-05-01"),
            category="monitor",
            weight_kg=5.5,
        ),
        event("taken_back", tenant=t, asset="old2", at=d("2025-07-01"), channel="refurbishment"),
        event(
            "refurbished",
            tenant=t,
            asset="old2",
            at=d("2025-08-01"),
            refurbishment_footprint_kg_co2e=20.0,
        ),
        event(
            "purchased",
            tenant=t,
            asset="old3",
            at=d("2018-01-01"),
            category="desktop",
            weight_kg=6.0,
        ),
        event("recycled", tenant=t, asset="old3", at=d("2025-09-01"), inside_eu_eea=False),
        event(
            "recycled",
            tenant=t,
            asset="old4",
            at=d("2025-10-01"),
            inside_eu_eea=True,
            weight_kg=2.0,
        ),
        # other years: must not count
        event("purchased", tenant=t, asset="pc9", at=d("2024-12-31T23:59:59")),
        event("recycled", tenant=t, asset="pc9", at=d("2026-01-01")),
    ]


def report(year: int = 2025) -> dict:  # type: ignore[type-arg]
    settings = SettingsTimeline.of([SettingsVersion(1, TenantSettings(scope3_category=1))])
    states = fold_all(golden()).values()
    data = total(asset_datapoints(s, settings, BOAVIZTA_PCF_MEDIAN, year) for s in states)
    ctx = ReportContext("g", year, None, settings, BOAVIZTA_PCF_MEDIAN)
    return assemble(ctx, data, survival_appendix(states, settings, year))


def test_e1_6_gross_scope3_of_hardware_acquired() -> None:
    e1 = report()["e1_6_gross_scope3"]
    # 251 (pc1, primary) + 241 (pc2, laptop factor) + 357 (mon1, monitor factor) = 849 kg
    assert e1["devices_acquired"] == 3
    assert e1["gross_t_co2e"] == 0.849
    assert e1["primary_data_share"] == round(251 / 849, 6)
    assert e1["scope3_category"] == 1
    assert e1["category_5_end_of_life"]["devices"] == 4
    assert e1["category_5_end_of_life"]["t_co2e"] is None


def test_e5_4_inflows() -> None:
    e54 = report()["e5_4_resource_inflows"]
    assert e54["devices_in"] == 3
    assert e54["weight_in_kg"] == 6.5  # 1.5 + 5.0 measured; pc2 has no weight
    assert e54["devices_in_weight_unknown"] == 1
    assert e54["refurbished_devices_in"] == 1
    assert e54["refurbished_share_devices"] == round(1 / 3, 6)
    assert e54["refurbished_weight_in_kg"] == 0.0


def test_e5_5_outflows_by_route_and_place() -> None:
    e55 = report()["e5_5_resource_outflows"]
    assert e55["devices_out"] == 4
    assert e55["weight_out_kg"] == 15.1  # 1.6 + 5.5 + 6.0 + 2.0
    assert e55["routes"] == {
        "reuse": {"devices": 1, "weight_kg": 1.6},  # old1 sold
        "preparation_for_reuse": {"devices": 1, "weight_kg": 5.5},  # old2 to ITAD
        "recycling": {"devices": 2, "weight_kg": 8.0},  # old3, old4
        "disposal": {"devices": 0, "weight_kg": 0.0},
    }
    assert e55["diverted_from_disposal_devices"] == 4
    assert (
        e55["inside_eu_eea_devices"],
        e55["outside_eu_eea_devices"],
        e55["eu_eea_unknown_devices"],
    ) == (1, 1, 2)


def test_avoided_emissions_by_method_never_netted() -> None:
    avoided = report()["avoided_emissions_kg_co2e"]
    longer = (
        round(241 * (years("2021-01-01", "2025-06-01") / 4.0 - 1), 3)  # old1 laptop, N 4
        + round(357 * (years("2019-05-01", "2025-07-01") / 6.6 - 1), 3)  # old2 monitor, N 6.6
        + round(301 * (years("2018-01-01", "2025-09-01") / 6.0 - 1), 3)  # old3 desktop, N 6
    )
    assert avoided["longer_life"] == pytest.approx(longer, abs=0.0015)
    assert avoided["reuse_after_take_back"] == 337.0  # 1 x (357 - 20)
    assert avoided["refurbished_purchase"] == 216.9  # 241 - 10 % of 241
    assert avoided["primary_data_share"] == 0.0  # no saving row used primary data
    assert "never netted" in avoided["note"]


def test_kpis_and_methodology() -> None:
    r = report()
    k = r["kpis"]
    assert (k["purchases"], k["ended_assets"]) == (3, 4)
    assert k["certification_share"] == pytest.approx(1 / 3)
    assert k["refurbished_purchase_share"] == pytest.approx(1 / 3)
    assert k["taken_back_share"] == 0.5
    mean = (
        years("2021-01-01", "2025-06-01")
        + years("2019-05-01", "2025-07-01")
        + years("2018-01-01", "2025-09-01")
    ) / 3
    assert k["lifespan_mean_years"] == pytest.approx(mean, abs=1e-4)
    assert set(k["definitions"]) >= {"taken_back_share", "certification_share"}
    m = r["methodology"]
    assert (m["factor_source"], m["displacement_rate"]) == ("boavizta-pcf-median", 1.0)
    assert m["baseline_years"]["monitor"] == 6.6


def test_other_year_sees_only_its_own_facts() -> None:
    r = report(2024)
    assert r["e5_4_resource_inflows"]["devices_in"] == 1  # pc9 on 31 December
    assert r["e5_5_resource_outflows"]["devices_out"] == 0
    assert flatten(r)["e1_6_gross_scope3.devices_acquired"] == 1


def test_lifespan_survival_appendix_as_of_the_end_of_the_year() -> None:
    """Laptops: pc1 and pc2 (bought 2025) and pc9 (bought 31 Dec 2024, ended 2026) are still in
    use on 31 December: censored. old1 ended after 4.41 years, the only one at risk then: S
    falls to 0 there. old4 has no purchase (incomplete history): no age, not in the curve."""
    survival = report()["kpis"]["lifespan_survival"]
    assert set(survival) == {"laptop", "monitor", "desktop"}
    laptop = survival["laptop"]
    assert (laptop["assets"], laptop["ended"], laptop["censored"]) == (4, 1, 3)
    assert laptop["median_years"] == round(years("2021-01-01", "2025-06-01"), 6)
    assert laptop["target_years"] == 4.0
    assert laptop["reached_target_share"] == 1.0  # nothing ended before 4 years
    assert [r["at_risk"] for r in laptop["by_year"]] == [4, 1, 1, 1, 1]
    monitor = survival["monitor"]
    assert (monitor["assets"], monitor["ended"], monitor["censored"]) == (2, 1, 1)
    assert monitor["reached_target_share"] == 0.0  # old2 ended at 6.17 < 6.6, the last at risk
    assert survival["desktop"]["median_ci_upper_years"] == round(
        years("2018-01-01", "2025-09-01"), 6
    )
