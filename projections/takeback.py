"""The take-back report of Swedish procurement condition 11180:1 ("reporting on reuse and
recycling of the equipment", Upphandlingsmyndigheten), from an asset's events. Pure.

Per unit sent in: make, model, serial number and decommissioning date (the first take-back);
the test results during preparation for reuse; what became of it - reused, recycled or
discarded - and whether inside or outside the EU/EEA; the CO2e saved for units that went to
reuse; the compensation paid to the buyer. Then the shares and totals. A fact no event reports
is listed as missing for that unit, never guessed (``docs/methodology.md``, "Take-back report
(11180:1)").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from events.models import (
    FunctionalTest,
    LifecycleEvent,
    Money,
    Purchased,
    Recycled,
    Refurbished,
    TakenBack,
)
from projections.asset_state import AssetState, event_key
from projections.carbon import FactorTable, Method
from projections.kpi_facts import facts
from projections.tenant_settings import SettingsSource

OUTCOMES = ("reused", "recycled", "discarded", "not_reported")
PLACES = ("inside_eu_eea", "outside_eu_eea", "eu_eea_unknown")

COLUMNS = (
    "asset_id",
    "category",
    "manufacturer",
    "model",
    "serial",
    "supplier",
    "decommissioned_on",
    "counterparty",
    "channel",
    "certificate",
    "data_erasure_certificate",
    "intake_test",
    "preparation_test",
    "test_result",
    "test_report_references",
    "outcome",
    "outcome_on",
    "place",
    "co2e_saved_kg",
    "compensation",
    "missing",
)


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date

    def holds(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


def _day(event: LifecycleEvent) -> date:
    return event.occurred_at.astimezone(UTC).date()


def _money(kind: str, money: Money | None) -> list[dict[str, Any]]:
    if money is None:
        return []
    return [{"amount": money.amount, "currency": money.currency, "for": kind}]


def _test_result(intake: FunctionalTest | None, preparation: FunctionalTest | None) -> str:
    """The latest test decides: a unit that failed at intake and passed after repair passed."""
    latest = preparation or intake
    return latest.result.value if latest is not None else "not_tested"


def unit(
    state: AssetState,
    history: Iterable[LifecycleEvent],
    settings: SettingsSource,
    table: FactorTable,
) -> dict[str, Any] | None:
    """The report row of one asset, or None if its use has not ended (it was never sent in).

    A unit is sent in by its first take-back, or by a recycling with no take-back before it
    (handed straight to a recycler). What became of it: reused if refurbished after the
    take-back or taken back for resale or donation; recycled if recycled after it, taken back
    for recycling, or recycled directly; otherwise not reported yet. Discarded is never
    derived: no event records a disposal (a disposal without a recycling certificate is kept
    by the adapters as a signal for review, not as an event).
    """
    events = sorted(history, key=event_key)
    sent_in = next((e for e in events if isinstance(e, TakenBack | Recycled)), None)
    if sent_in is None:
        return None
    after = [e for e in events if event_key(e) > event_key(sent_in)]
    purchase = next((e for e in events if isinstance(e, Purchased)), None)
    recycled = sent_in if isinstance(sent_in, Recycled) else None
    recycled = recycled or next((e for e in after if isinstance(e, Recycled)), None)
    # recycled is terminal: a refurbishment reported after it is an anomaly, no reuse
    refurbished = next(
        (
            e
            for e in after
            if isinstance(e, Refurbished)
            and (recycled is None or event_key(e) < event_key(recycled))
        ),
        None,
    )

    intake: FunctionalTest | None = None
    compensation: list[dict[str, Any]] = []
    outcome_event: LifecycleEvent | None
    if isinstance(sent_in, TakenBack):
        tb = sent_in.payload
        channel = tb.channel.value
        counterparty, certificate = tb.counterparty, tb.certificate_reference
        erasure, intake = tb.data_erasure_certificate_reference, tb.functional_test
        compensation += _money("take_back", tb.compensation)
        declared = tb.inside_eu_eea
    else:
        channel, counterparty = "direct_recycling", sent_in.payload.recycler
        certificate = sent_in.payload.certificate_reference
        erasure, declared = sent_in.payload.data_erasure_certificate_reference, None

    if refurbished is not None:
        outcome, outcome_event = "reused", refurbished
        inside = refurbished.payload.inside_eu_eea
        inside = declared if inside is None else inside
    elif channel in ("resale", "donation"):
        outcome, outcome_event, inside = "reused", sent_in, declared
    elif recycled is not None:
        outcome, outcome_event, inside = "recycled", recycled, recycled.payload.inside_eu_eea
    elif channel == "recycling":
        outcome, outcome_event, inside = "recycled", sent_in, declared
    else:  # sent in for refurbishment, no result reported yet
        outcome, outcome_event, inside = "not_reported", None, declared
    if recycled is not None:
        if erasure is None:
            erasure = recycled.payload.data_erasure_certificate_reference
        compensation += _money("recycling", recycled.payload.compensation)
    place = {True: "inside_eu_eea", False: "outside_eu_eea", None: "eu_eea_unknown"}[inside]

    saved: float | None = None
    if outcome == "reused":
        reuse = [
            r
            for r in facts(state, settings, table).savings
            if r.method is Method.REUSE_AFTER_TAKE_BACK
        ]
        saved = reuse[0].saving_g / 1000 if reuse else None

    preparation = refurbished.payload.functional_test if refurbished else None
    p = purchase.payload if purchase is not None else None
    row: dict[str, Any] = {
        "asset_id": state.asset_id,
        "category": p.category.value if p else None,
        "manufacturer": p.manufacturer if p else None,
        "model": p.model if p else None,
        "serial": p.serial if p else None,
        "supplier": p.supplier if p else None,
        "decommissioned_on": _day(sent_in).isoformat(),
        "counterparty": counterparty,
        "channel": channel,
        "certificate": certificate,
        "data_erasure_certificate": erasure,
        "intake_test": intake.result.value if intake else None,
        "preparation_test": preparation.result.value if preparation else None,
        "test_result": _test_result(intake, preparation),
        "test_report_references": [
            t.report_reference for t in (intake, preparation) if t and t.report_reference
        ],
        "outcome": outcome,
        "outcome_on": _day(outcome_event).isoformat() if outcome_event else None,
        "place": place,
        "co2e_saved_kg": saved,
        "compensation": compensation,
    }
    missing = [name for name in ("manufacturer", "model", "serial") if row[name] is None]
    if erasure is None:
        missing.append("data_erasure_certificate")
    if row["test_result"] == "not_tested" and outcome != "recycled":
        missing.append("functional_test")  # a test matters for what may be reused
    if outcome == "not_reported":
        missing.append("outcome")
    if place == "eu_eea_unknown":
        missing.append("place")
    if outcome == "reused" and saved is None:
        missing.append("co2e_saved_kg")
    if not compensation:
        missing.append("compensation")
    row["missing"] = missing
    return row


def report(
    states: Mapping[tuple[str, str], AssetState],
    histories: Mapping[tuple[str, str], Iterable[LifecycleEvent]],
    settings: SettingsSource,
    table: FactorTable,
    period: Period,
    supplier: str | None = None,
    counterparty: str | None = None,
) -> dict[str, Any]:
    """Units sent in (decommissioned) in ``period``, optionally of one supplier (of the
    purchase) or counterparty (of the take-back or recycling), with the shares and totals."""
    units = []
    for key in sorted(states):
        row = unit(states[key], histories.get(key, ()), settings, table)
        if row is None or not period.holds(date.fromisoformat(row["decommissioned_on"])):
            continue
        if supplier is not None and row["supplier"] != supplier:
            continue
        if counterparty is not None and row["counterparty"] != counterparty:
            continue
        units.append(row)
    return {"units": units, "totals": totals(units)}


def totals(units: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(units)
    by_outcome: dict[str, dict[str, Any]] = {}
    for outcome in OUTCOMES:
        of = [u for u in units if u["outcome"] == outcome]
        by_outcome[outcome] = {
            "units": len(of),
            "share": round(len(of) / n, 6) if n else None,
            **{place: sum(1 for u in of if u["place"] == place) for place in PLACES},
        }
    compensation: dict[str, float] = defaultdict(float)
    for u in units:
        for paid in u["compensation"]:
            compensation[paid["currency"]] += paid["amount"]
    saved = [u["co2e_saved_kg"] for u in units if u["co2e_saved_kg"] is not None]
    missing: dict[str, int] = defaultdict(int)
    for u in units:
        for name in u["missing"]:
            missing[name] += 1
    return {
        "units": n,
        "by_outcome": by_outcome,
        "co2e_saved_kg": round(sum(saved), 3),
        "reused_units_without_saving": sum(
            1 for u in units if u["outcome"] == "reused" and u["co2e_saved_kg"] is None
        ),
        "compensation_by_currency": {c: round(v, 2) for c, v in sorted(compensation.items())},
        "units_with_missing_facts": sum(1 for u in units if u["missing"]),
        "missing_by_fact": dict(sorted(missing.items())),
        "test_results": {
            result: sum(1 for u in units if u["test_result"] == result)
            for result in ("passed", "failed", "not_tested")
        },
    }
