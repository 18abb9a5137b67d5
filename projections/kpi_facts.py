"""What one asset contributes to the KPI aggregates and the carbon-saving rows. Pure.

An asset's contribution is a function of its folded state (plus tenant settings and the
factor table). The writer keeps the aggregates as the sum of all assets' contributions by
adding ``contribution(new state) - contribution(old state)`` whenever an asset changes. So a
late event that moves an end of use into another month moves the asset's counts with it, and
no asset is ever counted twice: the aggregates always equal a one-pass recomputation.

Periods are calendar months of ``occurred_at`` in UTC (``docs/methodology.md``, KPI definitions):
purchases count in the month of purchase, ends of use in the month of the first take-back or
recycling, take-back cohorts in the month of the take-back, savings in the month their fact
happened. Dimensions: category and supplier from the purchase; org unit at purchase for
purchase facts, at end of use for end-of-use facts. '' means unknown (incomplete history).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, ClassVar, NamedTuple

from events.models import CertificationScheme
from projections.asset_state import AssetState
from projections.carbon import (
    DataQuality,
    FactorTable,
    Method,
    longer_life_kg,
    refurbished_purchase_kg,
    resolve_embodied,
    reuse_kg,
    to_grams,
)
from projections.tenant_settings import SettingsSource, TenantSettings

SECONDS_PER_YEAR = 365.25 * 86400  # years = days / 365.25 (docs/methodology.md, KPI definitions)

# The version of the definitions below (and of ``projections.asset_counts``). Bump it when a
# measure is added or its definition changes: the worker then recomputes every aggregate from
# the asset states at start-up.
FACTS_VERSION = 3  # 2: ended_reused_internally (internal re-use share); 3: asset_counts

MEASURES: tuple[str, ...] = (
    "purchases",
    "purchases_certified",
    "purchases_refurbished",
    *(f"cert_{scheme.value}" for scheme in CertificationScheme),
    "purchases_with_weight",
    "purchased_weight_g",
    "ended",
    "ended_taken_back",
    "ended_recycled",
    "ended_reused_internally",
    "taken_back_resale",
    "taken_back_refurbishment",
    "taken_back_donation",
    "taken_back_recycling",
    "lifespan_known",
    "lifespan_seconds_sum",
    "reached_target",
    "taken_back",
    "taken_back_second_life",
    "taken_back_then_recycled",
    "savings_longer_life_g",
    "savings_reuse_g",
    "savings_refurbished_purchase_g",
    "savings_primary_g",
    "savings_rows",
    "savings_rows_primary",
)

SAVING_MEASURE = {
    Method.LONGER_LIFE: "savings_longer_life_g",
    Method.REUSE_AFTER_TAKE_BACK: "savings_reuse_g",
    Method.REFURBISHED_PURCHASE: "savings_refurbished_purchase_g",
}


class KpiKey(NamedTuple):
    """One row of ``kpi_monthly``. A NamedTuple, not a dataclass: a fact's keys are made, hashed
    and compared in dicts for every changed asset, and a tuple does that in C (a dataclass key:
    0.53 us to make, 0.23 us to look up; this: 0.22 and 0.06, timeit)."""

    tenant_id: str
    month: date
    category: str
    supplier: str
    org_unit: str


@dataclass(frozen=True, slots=True)
class SavingRow:
    tenant_id: str
    asset_id: str
    method: Method
    month: date
    saving_g: int
    embodied_kg: float
    data_quality: DataQuality
    factor_source: str
    factor_version: str
    parameters: Mapping[str, Any]

    COPY_COLUMNS: ClassVar[tuple[str, ...]] = (
        "tenant_id",
        "asset_id",
        "method",
        "month",
        "saving_g",
        "embodied_kg",
        "data_quality",
        "factor_source",
        "factor_version",
        "parameters",
    )

    def as_record(self) -> tuple[Any, ...]:
        """The row for a binary COPY, in ``COPY_COLUMNS`` order."""
        return (
            self.tenant_id,
            self.asset_id,
            self.method.value,
            self.month,
            self.saving_g,
            self.embodied_kg,
            self.data_quality.value,
            self.factor_source,
            self.factor_version,
            dict(self.parameters),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "asset_id": self.asset_id,
            "method": self.method.value,
            "month": self.month.isoformat(),
            "saving_g": self.saving_g,
            "embodied_kg": self.embodied_kg,
            "data_quality": self.data_quality.value,
            "factor_source": self.factor_source,
            "factor_version": self.factor_version,
            "parameters": dict(self.parameters),
        }


Contribution = dict[KpiKey, dict[str, int]]


def month_of(moment: datetime) -> date:
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def lifespan_seconds(state: AssetState) -> int | None:
    if state.purchased_at is None or state.ended_at is None:
        return None
    seconds = int((state.ended_at - state.purchased_at).total_seconds())
    return seconds if seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class Facts:
    aggregates: Contribution
    savings: list[SavingRow]


# Every field of an asset state that :func:`facts` reads. Two states of one asset that agree on
# them have the same facts under the same settings and factor table, so the writer keeps the
# old facts for an event that moves none of them (a repair, a marketplace step): the facts
# were ~9 % of the worker's writer CPU (py-spy, 300k events). The test changes every other
# field and asserts equal facts (tests/projections/test_kpis_incremental.py).
FACT_INPUTS: tuple[str, ...] = (
    "tenant_id",
    "asset_id",
    "category",
    "supplier",
    "condition",
    "org_unit",
    "purchase_org_unit",
    "purchased_at",
    "ended_at",
    "end_reason",
    "taken_back_at",
    "second_life_at",
    "recycled_at",
    "redeploy_count",
    "certifications",
    "product_carbon_footprint_kg_co2e",
    "refurbishment_footprint_kg_co2e",
    "weight_kg",
)
fact_inputs = attrgetter(*FACT_INPUTS)


def facts(state: AssetState, settings: SettingsSource, table: FactorTable) -> Facts:
    """``settings`` gives the tenant settings that apply on the day of each fact: the end of
    use for the target and the longer-life baseline, the second life for d and R, the
    purchase for a refurbished purchase's R."""
    out: Contribution = defaultdict(lambda: defaultdict(int))
    savings: list[SavingRow] = []
    category = state.category or ""
    supplier = state.supplier or ""

    def key(moment: datetime, org_unit: str | None) -> KpiKey:
        return KpiKey(state.tenant_id, month_of(moment), category, supplier, org_unit or "")

    if state.purchased_at is not None:
        k = key(state.purchased_at, state.purchase_org_unit)
        m = out[k]
        m["purchases"] += 1
        if state.certifications:
            m["purchases_certified"] += 1
        for scheme in state.certifications:
            m[f"cert_{scheme}"] += 1
        if state.condition == "refurbished":
            m["purchases_refurbished"] += 1
        if state.weight_kg is not None:
            m["purchases_with_weight"] += 1
            m["purchased_weight_g"] += to_grams(state.weight_kg)

    life_s = lifespan_seconds(state)
    if state.ended_at is not None:
        m = out[key(state.ended_at, state.org_unit)]
        m["ended"] += 1
        if state.end_reason and state.end_reason.startswith("taken_back:"):
            m["ended_taken_back"] += 1
            m[f"taken_back_{state.end_reason.split(':', 1)[1]}"] += 1
        else:
            m["ended_recycled"] += 1
        if state.redeploy_count > 0:  # a second internal user before the use ended
            m["ended_reused_internally"] += 1
        if life_s is not None:
            m["lifespan_known"] += 1
            m["lifespan_seconds_sum"] += life_s
            if state.category:
                target = settings.at(state.ended_at).target(state.category)
                if life_s / SECONDS_PER_YEAR >= target:
                    m["reached_target"] += 1

    if state.taken_back_at is not None:
        m = out[key(state.taken_back_at, state.org_unit)]
        m["taken_back"] += 1
        if state.second_life_at is not None:
            m["taken_back_second_life"] += 1
        elif state.recycled_at is not None:
            m["taken_back_then_recycled"] += 1

    embodied = resolve_embodied(state.product_carbon_footprint_kg_co2e, state.category, table)
    if embodied is not None and state.category is not None:

        def saving(
            method: Method, when: datetime, org: str | None, kg: float, parameters: dict[str, Any]
        ) -> None:
            row = SavingRow(
                tenant_id=state.tenant_id,
                asset_id=state.asset_id,
                method=method,
                month=month_of(when),
                saving_g=to_grams(kg),
                embodied_kg=embodied.kg,
                data_quality=embodied.quality,
                factor_source=table.source,
                factor_version=table.version,
                parameters=parameters,
            )
            savings.append(row)
            m = out[key(when, org)]
            m[SAVING_MEASURE[method]] += row.saving_g
            m["savings_rows"] += 1
            if embodied.quality is DataQuality.PRIMARY:
                m["savings_primary_g"] += row.saving_g
                m["savings_rows_primary"] += 1

        if life_s is not None and state.ended_at is not None:
            years = life_s / SECONDS_PER_YEAR
            n = settings.at(state.ended_at).baseline(state.category)
            saving(
                Method.LONGER_LIFE,
                state.ended_at,
                state.org_unit,
                longer_life_kg(embodied.kg, years, n),
                {"life_years": round(years, 4), "baseline_years": n},
            )
        if state.second_life_at is not None:
            at_second_life = settings.at(state.second_life_at)
            r, estimated = _refurbishment(state, at_second_life, embodied.kg)
            d = at_second_life.displacement_rate
            saving(
                Method.REUSE_AFTER_TAKE_BACK,
                state.second_life_at,
                state.org_unit,
                reuse_kg(embodied.kg, r, d),
                {
                    "refurbishment_kg_co2e": r,
                    "refurbishment_estimated": estimated,
                    "displacement_rate": d,
                },
            )
        if state.condition == "refurbished" and state.purchased_at is not None:
            r, estimated = settings.at(state.purchased_at).refurbishment_kg(
                state.category, embodied.kg
            )
            saving(
                Method.REFURBISHED_PURCHASE,
                state.purchased_at,
                state.purchase_org_unit,
                refurbished_purchase_kg(embodied.kg, r),
                {"refurbishment_kg_co2e": r, "refurbishment_estimated": estimated},
            )

    return Facts({k: dict(v) for k, v in out.items()}, savings)


def _refurbishment(
    state: AssetState, settings: TenantSettings, embodied_kg: float
) -> tuple[float, bool]:
    assert state.category is not None
    if state.refurbishment_footprint_kg_co2e is not None:
        return state.refurbishment_footprint_kg_co2e, False
    return settings.refurbishment_kg(state.category, embodied_kg)


def add_into(total: Contribution, part: Contribution, sign: int = 1) -> None:
    for k, measures in part.items():
        bucket = total.setdefault(k, {})
        for name, value in measures.items():
            bucket[name] = bucket.get(name, 0) + sign * value


def without_zeros(total: Contribution) -> Contribution:
    out: Contribution = {}
    for k, measures in total.items():
        kept = {name: v for name, v in measures.items() if v != 0}
        if kept:
            out[k] = kept
    return out


def delta(old: Iterable[Facts], new: Iterable[Facts]) -> Contribution:
    """Sum of new contributions minus old ones, zeros dropped."""
    total: Contribution = {}
    for f in old:
        add_into(total, f.aggregates, -1)
    for f in new:
        add_into(total, f.aggregates, +1)
    return without_zeros(total)


def one_pass(
    states: Iterable[AssetState],
    settings_of: Mapping[str, SettingsSource],
    table: FactorTable,
    default: SettingsSource,
) -> Contribution:
    """The aggregates recomputed from scratch: the reference the incremental path must equal."""
    total: Contribution = {}
    for s in states:
        add_into(total, facts(s, settings_of.get(s.tenant_id, default), table).aggregates)
    return without_zeros(total)
