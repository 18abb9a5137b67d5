"""Golden scenarios computed by hand from the formulas of docs/methodology.md."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from events.models import Category
from projections.asset_state import fold
from projections.carbon import ADEME_NEGAOCTET, BOAVIZTA_PCF_MEDIAN, DataQuality, Method
from projections.kpi_facts import Contribution, KpiKey, facts, one_pass
from projections.kpis import compute
from projections.tenant_settings import TenantSettings
from tests.factories import T0, event

N3 = TenantSettings(baseline_years={Category.LAPTOP: 3.0})


def _sum(total: Contribution, **dims: object) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, measures in total.items():
        if all(getattr(key, k) == v for k, v in dims.items()):
            for name, value in measures.items():
                out[name] = out.get(name, 0) + value
    return out


def test_longer_life_laptop_251kg_4_years_against_baseline_3() -> None:
    # 251 x (4/3 - 1) = 83.667 kg; 4.0 years = 1461 days / 365.25
    state = fold(
        [
            event("purchased", asset="pc", product_carbon_footprint_kg_co2e=251.0),
            event("taken_back", asset="pc", at=T0 + timedelta(days=1461)),
        ]
    )
    assert state is not None
    f = facts(state, N3, BOAVIZTA_PCF_MEDIAN)
    [row] = [r for r in f.savings if r.method is Method.LONGER_LIFE]
    assert row.saving_g == 83_667
    assert row.data_quality is DataQuality.PRIMARY
    assert row.embodied_kg == 251.0
    assert row.parameters == {"life_years": 4.0, "baseline_years": 3.0}
    assert row.month == date(2024, 1, 1)
    assert (row.factor_source, row.factor_version) == (
        "boavizta-pcf-median",
        BOAVIZTA_PCF_MEDIAN.version,
    )
    kpis = compute(_sum(f.aggregates, month=date(2024, 1, 1)))
    assert kpis["lifespan_mean_years"] == pytest.approx(4.0)
    assert kpis["savings_longer_life_kg_co2e"] == 83.667
    assert kpis["reached_target_share"] == 1.0  # target defaults to the baseline, 3 years
    assert kpis["savings_primary_data_share"] == 1.0


def test_short_life_is_a_negative_saving_reported_as_is() -> None:
    # secondary data: ADEME laptop 181 kg; 2 years (730.5 days) vs N = 4 (Boavizta default)
    state = fold(
        [
            event("purchased", asset="pc", at=T0),
            event("recycled", asset="pc", at=T0 + timedelta(days=730, hours=12)),
        ]
    )
    assert state is not None
    f = facts(state, TenantSettings(), ADEME_NEGAOCTET)
    [row] = f.savings
    assert row.saving_g == -90_500  # 181 x (2/4 - 1)
    assert row.data_quality is DataQuality.SECONDARY
    kpis = compute(_sum(f.aggregates))
    assert kpis["reached_target_share"] == 0.0
    assert kpis["savings_primary_data_share"] == 0.0


def test_take_back_share_three_of_four_ended_in_march() -> None:
    march = T0.replace(year=2024, month=3, day=10)
    histories: list[tuple[str, list[tuple[str, dict[str, str]]]]] = [
        ("a", [("taken_back", {"channel": "resale"})]),
        ("b", [("taken_back", {"channel": "refurbishment"})]),
        ("c", [("taken_back", {"channel": "recycling"})]),
        ("d", [("recycled", {})]),
    ]
    states = []
    for asset, ends in histories:
        events = [event("purchased", asset=asset, at=T0)]
        events += [event(k, asset=asset, at=march, **p) for k, p in ends]
        state = fold(events)
        assert state is not None
        states.append(state)
    total = one_pass(states, {}, BOAVIZTA_PCF_MEDIAN, TenantSettings())
    kpis = compute(_sum(total, month=date(2024, 3, 1)))
    assert kpis["ended_assets"] == 4
    assert kpis["taken_back_share"] == 0.75
    assert kpis["ended_by_channel"] == {
        "taken_back_resale": 1,
        "taken_back_refurbishment": 1,
        "taken_back_donation": 0,
        "taken_back_recycling": 1,
        "recycled_directly": 1,
    }
    assert compute(_sum(total, month=date(2020, 1, 1)))["purchases"] == 4


def test_certification_share_counts_only_certificates_valid_on_purchase_day() -> None:
    jan = T0.replace(year=2023, month=1, day=15)
    valid = {"scheme": "tco_certified", "valid_until": "2025-01-01"}
    expired = {"scheme": "tco_certified", "valid_until": "2022-12-31"}
    states = [
        fold([event("purchased", asset="1", at=jan, certifications=[valid, {"scheme": "epeat"}])]),
        fold([event("purchased", asset="2", at=jan, certifications=[valid])]),
        fold([event("purchased", asset="3", at=jan, certifications=[expired])]),
        fold([event("purchased", asset="4", at=jan)]),
    ]
    total = one_pass([s for s in states if s], {}, BOAVIZTA_PCF_MEDIAN, TenantSettings())
    kpis = compute(_sum(total, month=date(2023, 1, 1)))
    assert kpis["purchases"] == 4
    assert kpis["certification_share"] == 0.5
    assert kpis["certification_share_by_scheme"]["tco_certified"] == 0.5
    assert kpis["certification_share_by_scheme"]["epeat"] == 0.25
    assert kpis["certification_share_by_scheme"]["nordic_swan"] == 0.0


def test_refurbished_purchase_saves_e_minus_r_at_purchase() -> None:
    # secondary E: Boavizta PCF median laptop 241 kg; tenant R = 20 kg -> 221 kg
    settings = TenantSettings(default_refurbishment_kg_co2e={Category.LAPTOP: 20.0})
    state = fold([event("purchased", asset="r", condition="refurbished")])
    assert state is not None
    f = facts(state, settings, BOAVIZTA_PCF_MEDIAN)
    [row] = f.savings
    assert row.method is Method.REFURBISHED_PURCHASE
    assert row.saving_g == 221_000
    assert row.parameters == {"refurbishment_kg_co2e": 20.0, "refurbishment_estimated": True}
    kpis = compute(_sum(f.aggregates))
    assert kpis["refurbished_purchase_share"] == 1.0
    assert kpis["savings_refurbished_purchase_kg_co2e"] == 221.0


def test_reuse_after_take_back_with_reported_refurbishment_footprint() -> None:
    # E = 251 (primary), R = 18 from the refurbished event, d = 0.8: 0.8 x 233 = 186.4 kg
    settings = TenantSettings(displacement_rate=0.8, baseline_years={Category.LAPTOP: 4.0})
    state = fold(
        [
            event("purchased", asset="x", product_carbon_footprint_kg_co2e=251.0),
            event("taken_back", asset="x", at=T0 + timedelta(days=1461)),
            event(
                "refurbished",
                asset="x",
                at=T0 + timedelta(days=1500),
                refurbishment_footprint_kg_co2e=18.0,
            ),
        ]
    )
    assert state is not None
    f = facts(state, settings, BOAVIZTA_PCF_MEDIAN)
    by_method = {r.method: r for r in f.savings}
    assert by_method[Method.REUSE_AFTER_TAKE_BACK].saving_g == 186_400
    assert by_method[Method.REUSE_AFTER_TAKE_BACK].parameters["refurbishment_estimated"] is False
    assert by_method[Method.LONGER_LIFE].saving_g == 0  # exactly the baseline 4 years
    kpis = compute(_sum(f.aggregates))
    assert kpis["second_life_share"] == 1.0
    assert kpis["savings_reuse_after_take_back_kg_co2e"] == 186.4


def test_late_take_back_moves_the_end_of_use_to_its_own_month() -> None:
    purchased = event("purchased", asset="m")
    recycled_may = event("recycled", asset="m", at=T0.replace(year=2024, month=5))
    before = fold([purchased, recycled_may])
    taken_back_march = event("taken_back", asset="m", at=T0.replace(year=2024, month=3))
    after = fold([purchased, recycled_may, taken_back_march])
    assert before is not None and after is not None
    settings = TenantSettings()
    f_before = facts(before, settings, BOAVIZTA_PCF_MEDIAN)
    f_after = facts(after, settings, BOAVIZTA_PCF_MEDIAN)
    assert _sum(f_before.aggregates, month=date(2024, 5, 1))["ended"] == 1
    assert "ended" not in _sum(f_after.aggregates, month=date(2024, 5, 1))
    march = compute(_sum(f_after.aggregates, month=date(2024, 3, 1)))
    assert march["ended_assets"] == 1
    assert march["taken_back_share"] == 1.0
    assert march["taken_back_recycled_share"] == 1.0


def test_asset_without_purchase_counts_as_ended_but_has_no_lifespan_or_saving() -> None:
    state = fold([event("recycled", asset="old")])
    assert state is not None
    f = facts(state, TenantSettings(), BOAVIZTA_PCF_MEDIAN)
    assert f.savings == []
    [key] = f.aggregates
    assert key == KpiKey("tenant-a", date(2020, 1, 1), "", "", "")
    kpis = compute(f.aggregates[key])
    assert kpis["ended_assets"] == 1
    assert kpis["lifespan_mean_years"] is None
    assert kpis["purchases"] == 0
    assert kpis["certification_share"] is None
