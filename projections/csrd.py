"""CSRD datapoints (Delegated Regulation (EU) 2023/2772) from folded asset states. Pure.

Every datapoint is a sum of per-asset contributions (``asset_datapoints``), so a report can be
recomputed "as known on" any date from the event log, and a restatement can name the assets -
and through them the events - behind every change. Ratios are derived from the sums last.

Routes out of the organisation (``docs/methodology.md``, EU Waste Framework Directive wording):
sold or donated before it is waste = **reuse**; ITAD processing (take-back for refurbishment) =
**preparation for reuse**; material recovery (take-back for recycling, recycled) =
**recycling**; anything else = **disposal** (no event maps there today).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from projections.asset_state import AssetState
from projections.carbon import DataQuality, FactorTable, FactorTableVersion, resolve_embodied
from projections.kpi_facts import MEASURES, facts
from projections.kpis import compute
from projections.survival import Observation, kaplan_meier, observe
from projections.tenant_settings import SettingsSource, SettingsTimeline

ROUTE_OF_END = {
    "taken_back:resale": "reuse",
    "taken_back:donation": "reuse",
    "taken_back:refurbishment": "preparation_for_reuse",
    "taken_back:recycling": "recycling",
    "recycled": "recycling",
}
ROUTES = ("reuse", "preparation_for_reuse", "recycling", "disposal")

KPI_DEFINITIONS = {
    "lifespan_mean_years": "Mean years (days / 365.25) from purchase to first take-back or "
    "recycling, of assets whose use ended in the year.",
    "taken_back_share": "Assets taken back / assets whose use ended in the year (taken back + "
    "recycled directly).",
    "certification_share": "Assets purchased in the year with a recognised sustainability "
    "certification valid on the purchase date / all assets purchased in the year.",
    "refurbished_purchase_share": "Purchases with condition refurbished / all purchases.",
    "lifespan_survival": "Per category, Kaplan-Meier survival from purchase as of 31 December: "
    "devices still in use are censored; median survival years with a 95 % CI (exponential "
    "Greenwood), the share expected to reach the target lifespan (S just before it), and the "
    "devices at risk at each whole year of age.",
    "savings": "Avoided emissions per method, kg CO2e: longer life E x (L/N - 1); reuse after "
    "take-back d x (E - R); refurbished purchase E - R. Reported separately, never netted "
    "against the inventory (ESRS E1-4 34(b)).",
}

Datapoints = dict[str, float]


def asset_datapoints(
    state: AssetState, settings: SettingsSource, table: FactorTable, year: int
) -> Datapoints:
    """This asset's additive contribution to the year's datapoints."""
    out: Datapoints = defaultdict(float)
    bought = state.purchased_at is not None and state.purchased_at.year == year
    ended = state.ended_at is not None and state.ended_at.year == year
    if bought:
        out["e5_4.devices_in"] += 1
        if state.weight_kg is not None:
            out["e5_4.weight_in_measured_kg"] += state.weight_kg
        else:
            out["e5_4.devices_in_weight_unknown"] += 1
        if state.condition == "refurbished":
            out["e5_4.refurbished_devices_in"] += 1
            out["e5_4.refurbished_weight_in_kg"] += state.weight_kg or 0.0
        embodied = resolve_embodied(state.product_carbon_footprint_kg_co2e, state.category, table)
        if embodied is None:
            out["e1_6.devices_without_footprint"] += 1
        else:
            out["e1_6.devices_acquired"] += 1
            out["e1_6.gross_scope3_kg_co2e"] += embodied.kg
            if embodied.quality is DataQuality.PRIMARY:
                out["e1_6.primary_data_kg_co2e"] += embodied.kg
    if ended and state.end_reason is not None:
        route = ROUTE_OF_END.get(state.end_reason, "disposal")
        weight = state.weight_kg
        out["e5_5.devices_out"] += 1
        out[f"e5_5.{route}.devices"] += 1
        if weight is not None:
            out["e5_5.weight_out_kg"] += weight
            out[f"e5_5.{route}.weight_kg"] += weight
        else:
            out["e5_5.devices_out_weight_unknown"] += 1
        if state.end_reason == "recycled" or state.recycled_at is not None:
            where = {True: "inside_eu_eea", False: "outside_eu_eea", None: "eu_eea_unknown"}[
                state.recycled_inside_eu_eea
            ]
        else:
            where = "eu_eea_unknown"
        out[f"e5_5.{where}.devices"] += 1
        out["e1_6.category_5_disposal_devices"] += 1
    for measures in facts(state, settings, table).aggregates.items():
        key, values = measures
        if key.month.year != year:
            continue
        for name, value in values.items():
            out[f"kpi.{name}"] += value
    return {k: v for k, v in out.items() if v}


def survival_appendix(
    states: Iterable[AssetState], settings: SettingsSource, year: int
) -> dict[str, Any]:
    """Per category, the survival curve's summary as of the end of ``year``: ends after the
    year count as still in use then, so the appendix of a closed year never moves by itself."""
    moment = datetime(year + 1, 1, 1, tzinfo=UTC)
    by_category: dict[str, list[Observation]] = defaultdict(list)
    for state in states:
        seen = observe(state.purchased_at, state.ended_at, moment)
        if seen is not None and state.category is not None:
            by_category[state.category].append(seen)
    year_end = settings.at(date(year, 12, 31))
    return {
        category: kaplan_meier(observations).summary(year_end.target(category))
        for category, observations in sorted(by_category.items())
    }


def total(contributions: Iterable[Mapping[str, float]]) -> Datapoints:
    out: Datapoints = defaultdict(float)
    for c in contributions:
        for k, v in c.items():
            out[k] += v
    return dict(out)


def _share(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits)


@dataclass(frozen=True)
class ReportContext:
    tenant_id: str
    year: int
    as_of: str | None
    settings: SettingsTimeline  # the versions known on as_of
    table: FactorTable
    factor_record: FactorTableVersion | None = None  # the table's recorded version, if any

    @property
    def year_end(self) -> date:
        return date(self.year, 12, 31)

    @property
    def scope3_category(self) -> int:
        """1 purchased goods (expensed) or 2 capital goods, as set on 31 December."""
        return self.settings.at(self.year_end).scope3_category


def assemble(
    ctx: ReportContext, d: Mapping[str, float], survival: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The report as plain JSON-ready data, deterministic for the same inputs. ``survival``
    is :func:`survival_appendix` of the same states."""
    g = d.get
    kpi_measures = {m: int(g(f"kpi.{m}", 0)) for m in MEASURES}
    kpis = compute(kpi_measures)
    gross = g("e1_6.gross_scope3_kg_co2e", 0.0)
    routes = {
        r: {"devices": int(g(f"e5_5.{r}.devices", 0)), "weight_kg": _r(g(f"e5_5.{r}.weight_kg", 0))}
        for r in ROUTES
    }
    devices_in = g("e5_4.devices_in", 0)
    year_end = ctx.settings.at(ctx.year_end)
    return {
        "tenant_id": ctx.tenant_id,
        "year": ctx.year,
        "as_of": ctx.as_of,
        "basis": "events recorded up to and including as_of (recorded_at); occurred_at decides "
        "the year"
        if ctx.as_of
        else "all events recorded so far; occurred_at decides the year",
        "e1_6_gross_scope3": {
            "paragraphs": "ESRS E1-6 44(c), 51",
            "scope3_category": ctx.scope3_category,
            "scope3_category_name": "purchased goods and services"
            if ctx.scope3_category == 1
            else "capital goods",
            "devices_acquired": int(g("e1_6.devices_acquired", 0)),
            "devices_without_footprint": int(g("e1_6.devices_without_footprint", 0)),
            "gross_t_co2e": _r(gross / 1000, 6),
            "primary_data_share": _share(g("e1_6.primary_data_kg_co2e", 0.0), gross),
            "category_5_end_of_life": {
                "devices": int(g("e1_6.category_5_disposal_devices", 0)),
                "t_co2e": None,
                "note": "the events carry no end-of-life emission data; not estimated",
            },
        },
        "e5_4_resource_inflows": {
            "paragraphs": "ESRS E5-4 31, 32",
            "devices_in": int(devices_in),
            "weight_in_kg": _r(g("e5_4.weight_in_measured_kg", 0)),
            "weight_basis": "measured (reported on the purchase event)",
            "devices_in_weight_unknown": int(g("e5_4.devices_in_weight_unknown", 0)),
            "refurbished_devices_in": int(g("e5_4.refurbished_devices_in", 0)),
            "refurbished_share_devices": _share(g("e5_4.refurbished_devices_in", 0), devices_in),
            "refurbished_weight_in_kg": _r(g("e5_4.refurbished_weight_in_kg", 0)),
        },
        "e5_5_resource_outflows": {
            "paragraphs": "ESRS E5-5 37-39",
            "devices_out": int(g("e5_5.devices_out", 0)),
            "weight_out_kg": _r(g("e5_5.weight_out_kg", 0)),
            "devices_out_weight_unknown": int(g("e5_5.devices_out_weight_unknown", 0)),
            "e_waste": True,
            "routes": routes,
            "diverted_from_disposal_devices": sum(
                routes[r]["devices"] for r in ("reuse", "preparation_for_reuse", "recycling")
            ),
            "inside_eu_eea_devices": int(g("e5_5.inside_eu_eea.devices", 0)),
            "outside_eu_eea_devices": int(g("e5_5.outside_eu_eea.devices", 0)),
            "eu_eea_unknown_devices": int(g("e5_5.eu_eea_unknown.devices", 0)),
        },
        "avoided_emissions_kg_co2e": {
            "note": "separate metric, never netted against the inventory (ESRS E1-4 34(b))",
            "longer_life": kpis["savings_longer_life_kg_co2e"],
            "reuse_after_take_back": kpis["savings_reuse_after_take_back_kg_co2e"],
            "refurbished_purchase": kpis["savings_refurbished_purchase_kg_co2e"],
            "primary_data_share": kpis["savings_primary_data_share"],
        },
        "kpis": {
            "lifespan_mean_years": _r(kpis["lifespan_mean_years"], 4)
            if kpis["lifespan_mean_years"] is not None
            else None,
            "ended_assets": kpis["ended_assets"],
            "reached_target_share": kpis["reached_target_share"],
            "taken_back_share": kpis["taken_back_share"],
            "certification_share": kpis["certification_share"],
            "refurbished_purchase_share": kpis["refurbished_purchase_share"],
            "purchases": kpis["purchases"],
            "lifespan_survival": dict(survival or {}),
            "definitions": KPI_DEFINITIONS,
        },
        "methodology": {
            "factor_source": ctx.table.source,
            "factor_version": ctx.table.version,
            "factor_citation": ctx.table.citation,
            "embodied_kg_co2e_by_category": ctx.table.embodied_kg,
            "factor_table_version": ctx.factor_record.version if ctx.factor_record else None,
            "factor_table_recorded_at": ctx.factor_record.describe()["recorded_at"]
            if ctx.factor_record
            else None,
            "settings_version": ctx.settings.version,
            "settings_versions_applied": ctx.settings.in_year(ctx.year),
            "settings_values": "in effect on 31 December; settings_versions_applied lists every "
            "version that applied to a day of the year (a fact uses the version of its day)",
            "baseline_years": {c: year_end.baseline(c) for c in sorted(ctx.table.embodied_kg)},
            "target_lifespan_years": {c: year_end.target(c) for c in sorted(ctx.table.embodied_kg)},
            "displacement_rate": year_end.displacement_rate,
            "refurbishment_footprint": "reported on the refurbished event where present, else "
            "the tenant default, else 10 % of E (an assumption)",
            "embodied_footprint": "primary: product carbon footprint on the purchase event; "
            "secondary: the factor table above",
            "weights": "measured as reported on events; devices without a weight are counted "
            "and not estimated",
        },
    }


def flatten(report: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested report -> {"section.datapoint": value} (for CSV and restatements)."""
    out: dict[str, Any] = {}
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
