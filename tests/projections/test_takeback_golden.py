"""The 11180:1 take-back report on a golden history: every column and total by hand."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from events.codec import EVENT_ADAPTER
from events.models import LifecycleEvent
from projections.asset_state import fold_all
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.takeback import Period, report
from projections.tenant_settings import TenantSettings
from tests.factories import event_dict

T = "g"
PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def golden() -> list[dict[str, Any]]:
    def e(kind: str, asset: str, at: str, **payload: Any) -> dict[str, Any]:
        return event_dict(kind, tenant=T, asset=asset, at=d(at), **payload)

    sek = {"currency": "SEK"}
    return [
        # u1: refurbished and sold outside the EU/EEA; every fact reported
        e("purchased", "u1", "2022-01-10", serial="S1", product_carbon_footprint_kg_co2e=251.0),
        e(
            "taken_back",
            "u1",
            "2026-02-01",
            data_erasure_certificate_reference="W1",
            functional_test={"result": "passed", "report_reference": "T1"},
            compensation={"amount": 1200, **sek},
            inside_eu_eea=True,
        ),
        e(
            "refurbished",
            "u1",
            "2026-03-01",
            refurbishment_footprint_kg_co2e=18.0,
            functional_test={"result": "passed", "report_reference": "T2"},
            inside_eu_eea=False,
        ),
        # u2: resold by the supplier; nothing else reported
        e("purchased", "u2", "2021-05-01"),
        e("taken_back", "u2", "2026-03-15", counterparty="Atea", channel="resale"),
        # u3: taken back for recycling, recycled outside the EU/EEA, paid for the material
        e("purchased", "u3", "2020-01-01", category="monitor", serial="S3", supplier="Dustin"),
        e(
            "taken_back",
            "u3",
            "2026-04-01",
            channel="recycling",
            data_erasure_certificate_reference="W3",
            inside_eu_eea=True,
        ),
        e(
            "recycled",
            "u3",
            "2026-04-20",
            inside_eu_eea=False,
            compensation={"amount": 50, **sek},
        ),
        # u4: bought before kretslopp knew it; sent in for refurbishment, failed its test
        e("taken_back", "u4", "2026-05-01", functional_test={"result": "failed"}),
        # u5: handed straight to a recycler on the last day of the period
        e("purchased", "u5", "2019-01-01", category="desktop", serial="S5", supplier="Dustin"),
        e(
            "recycled",
            "u5",
            "2026-06-30T23:59:59",
            recycler="Stena",
            data_erasure_certificate_reference="W5",
            compensation={"amount": 20, "currency": "EUR"},
        ),
        # outside the period or still in use: not in the report
        e("purchased", "u6", "2021-01-01"),
        e("taken_back", "u6", "2025-12-31T23:59:59"),
        e("purchased", "u7", "2024-01-01"),
        e("purchased", "u8", "2021-01-01"),
        e("taken_back", "u8", "2026-07-01"),
    ]


def run(**filters: Any) -> dict[str, Any]:
    events: list[LifecycleEvent] = [EVENT_ADAPTER.validate_python(o) for o in golden()]
    histories: dict[tuple[str, str], list[LifecycleEvent]] = defaultdict(list)
    for ev in events:
        histories[(ev.tenant_id, ev.asset_id)].append(ev)
    states = fold_all(events)
    return report(states, histories, TenantSettings(), BOAVIZTA_PCF_MEDIAN, PERIOD, **filters)


def test_every_unit_row() -> None:
    units = {u["asset_id"]: u for u in run()["units"]}
    assert list(units) == ["u1", "u2", "u3", "u4", "u5"]
    u1 = units["u1"]
    assert (u1["manufacturer"], u1["model"], u1["serial"], u1["supplier"]) == (
        "Lenovo",
        "ThinkPad T14",
        "S1",
        "Atea",
    )
    assert (u1["decommissioned_on"], u1["counterparty"], u1["channel"]) == (
        "2026-02-01",
        "Inrego",
        "refurbishment",
    )
    assert (u1["intake_test"], u1["preparation_test"], u1["test_result"]) == (
        "passed",
        "passed",
        "passed",
    )
    assert u1["test_report_references"] == ["T1", "T2"]
    assert (u1["outcome"], u1["outcome_on"], u1["place"]) == (
        "reused",
        "2026-03-01",
        "outside_eu_eea",
    )
    assert u1["co2e_saved_kg"] == 233.0  # d x (E - R) = 1 x (251 - 18)
    assert u1["compensation"] == [{"amount": 1200, "currency": "SEK", "for": "take_back"}]
    assert u1["missing"] == []

    u2 = units["u2"]
    assert (u2["outcome"], u2["place"], u2["co2e_saved_kg"]) == ("reused", "eu_eea_unknown", None)
    assert u2["missing"] == [
        "serial",
        "data_erasure_certificate",
        "functional_test",
        "place",
        "co2e_saved_kg",
        "compensation",
    ]

    u3 = units["u3"]
    assert (u3["outcome"], u3["outcome_on"], u3["place"]) == (
        "recycled",
        "2026-04-20",
        "outside_eu_eea",
    )
    assert u3["compensation"] == [{"amount": 50, "currency": "SEK", "for": "recycling"}]
    assert (u3["test_result"], u3["missing"]) == ("not_tested", [])  # no test needed to recycle

    u4 = units["u4"]
    assert (u4["category"], u4["outcome"], u4["outcome_on"], u4["test_result"]) == (
        None,
        "not_reported",
        None,
        "failed",
    )
    assert u4["missing"] == [
        "manufacturer",
        "model",
        "serial",
        "data_erasure_certificate",
        "outcome",
        "place",
        "compensation",
    ]

    u5 = units["u5"]
    assert (u5["channel"], u5["counterparty"], u5["outcome"], u5["place"]) == (
        "direct_recycling",
        "Stena",
        "recycled",
        "inside_eu_eea",
    )
    assert u5["data_erasure_certificate"] == "W5"
    assert u5["compensation"] == [{"amount": 20, "currency": "EUR", "for": "recycling"}]


def test_shares_and_totals() -> None:
    t = run()["totals"]
    assert t["units"] == 5
    assert t["by_outcome"] == {
        "reused": {
            "units": 2,
            "share": 0.4,
            "inside_eu_eea": 0,
            "outside_eu_eea": 1,
            "eu_eea_unknown": 1,
        },
        "recycled": {
            "units": 2,
            "share": 0.4,
            "inside_eu_eea": 1,
            "outside_eu_eea": 1,
            "eu_eea_unknown": 0,
        },
        "discarded": {
            "units": 0,
            "share": 0.0,
            "inside_eu_eea": 0,
            "outside_eu_eea": 0,
            "eu_eea_unknown": 0,
        },
        "not_reported": {
            "units": 1,
            "share": 0.2,
            "inside_eu_eea": 0,
            "outside_eu_eea": 0,
            "eu_eea_unknown": 1,
        },
    }
    assert t["co2e_saved_kg"] == 233.0
    assert t["reused_units_without_saving"] == 1
    assert t["compensation_by_currency"] == {"EUR": 20.0, "SEK": 1250.0}
    assert t["units_with_missing_facts"] == 2
    assert t["missing_by_fact"]["compensation"] == 2
    assert t["test_results"] == {"passed": 1, "failed": 1, "not_tested": 3}


def test_filters_by_supplier_and_counterparty() -> None:
    assert [u["asset_id"] for u in run(supplier="Dustin")["units"]] == ["u3", "u5"]
    assert [u["asset_id"] for u in run(counterparty="Stena")["units"]] == ["u5"]
    assert run(supplier="Nobody")["totals"]["by_outcome"]["reused"]["share"] is None


def test_a_refurbishment_reported_after_the_recycling_is_no_reuse() -> None:
    """recycled is terminal (an event after it is an anomaly): the unit stays recycled."""
    events = [
        EVENT_ADAPTER.validate_python(o)
        for o in (
            event_dict("purchased", tenant=T, asset="x", at=d("2020-01-01")),
            event_dict("recycled", tenant=T, asset="x", at=d("2026-02-01")),
            event_dict("refurbished", tenant=T, asset="x", at=d("2026-03-01")),
        )
    ]
    states = fold_all(events)
    r = report(states, {(T, "x"): events}, TenantSettings(), BOAVIZTA_PCF_MEDIAN, PERIOD)
    [unit] = r["units"]
    assert (unit["channel"], unit["outcome"], unit["co2e_saved_kg"]) == (
        "direct_recycling",
        "recycled",
        None,
    )
