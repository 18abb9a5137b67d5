"""``kretslopp report``: CSRD datapoints, restatements and supplier scorecards for a tenant-year.

Reads only PostgreSQL: the event log, folded again "as known on" ``--as-of`` (events with
``recorded_at`` up to the end of that day) with the tenant settings versions and the factor
table recorded by then, so the report of a closed year is reproduced byte for byte after late
events, settings changes and factor-table changes (the methodology section names the settings
version and the factor-table version it used).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from events.models import LifecycleEvent
from projections import event_rows
from projections.asset_state import AssetState, fold_all
from projections.carbon import FactorTable, FactorTableVersion, table_known_before
from projections.csrd import (
    Datapoints,
    ReportContext,
    assemble,
    asset_datapoints,
    flatten,
    survival_appendix,
    total,
)
from projections.kpi_facts import facts
from projections.kpis import compute
from projections.postgres import reads
from projections.postgres.connection import Connection
from projections.postgres.kpi_store import factor_history, settings_timeline
from projections.tenant_settings import SettingsTimeline
from services.reports.formats import markdown_cell, spreadsheet_safe

AssetKey = tuple[str, str]


def as_of_instant(text: str | None) -> datetime | None:
    """A date means the end of that day, UTC; a timestamp needs a time zone."""
    if text is None:
        return None
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("--as-of: a timestamp needs a time zone, e.g. 2026-01-31T12:00:00Z")
    return moment


@dataclass
class Snapshot:
    states: dict[AssetKey, AssetState]
    events: dict[AssetKey, list[tuple[LifecycleEvent, datetime]]]


async def snapshot(conn: Connection, tenant: str, before: datetime | None) -> Snapshot:
    rows = await reads.tenant_event_rows(conn, tenant, before)
    events: dict[AssetKey, list[tuple[LifecycleEvent, datetime]]] = defaultdict(list)
    for r in rows:
        events[(r["tenant_id"], r["asset_id"])].append((event_rows.from_row(r), r["recorded_at"]))
    states = fold_all(e for history in events.values() for e, _ in history)
    return Snapshot(states, dict(events))


@dataclass(frozen=True)
class Model:
    """The tenant's settings versions and the factor table as known at one moment."""

    settings: SettingsTimeline
    table: FactorTable
    factor_record: FactorTableVersion | None

    def context(self, tenant: str, year: int, as_of: str | None) -> ReportContext:
        return ReportContext(tenant, year, as_of, self.settings, self.table, self.factor_record)


def model_at(
    timeline: SettingsTimeline,
    history: list[FactorTableVersion],
    before: datetime | None,
    fallback: FactorTable,
) -> Model:
    """Settings and factors as known just before ``before`` (now when None). ``fallback`` is
    the deployment's table, used only where no table was ever recorded (no worker ran)."""
    record = table_known_before(history, before)
    return Model(timeline.known_before(before), record.table if record else fallback, record)


async def model_known_before(
    conn: Connection, tenant: str, before: datetime | None, fallback: FactorTable
) -> Model:
    timeline = await settings_timeline(conn, tenant)
    return model_at(timeline, await factor_history(conn), before, fallback)


async def csrd(
    conn: Connection, tenant: str, year: int, as_of: str | None, table: FactorTable
) -> dict[str, Any]:
    before = as_of_instant(as_of)
    model = await model_known_before(conn, tenant, before, table)
    snap = await snapshot(conn, tenant, before)
    data = total(
        asset_datapoints(s, model.settings, model.table, year) for s in snap.states.values()
    )
    survival = survival_appendix(snap.states.values(), model.settings, year)
    return assemble(model.context(tenant, year, as_of), data, survival)


_SURVIVAL = "kpis.lifespan_survival."


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in set(before) | set(after) if k != "as_of" and before.get(k) != after.get(k)}


async def restatement(
    conn: Connection, tenant: str, year: int, first: str, second: str, table: FactorTable
) -> dict[str, Any]:
    """What changed in the year's report between two as-of dates, and what caused each change.

    Sequential attribution: from the first report, apply the events recorded in between, then
    each settings version recorded in between, then each factor table, in the order they were
    recorded; a datapoint that moves at a step is attributed to that step's causes. Events are
    attributed per asset (the datapoints that asset's new events move on their own); a
    datapoint moved only by assets together is attributed to all of that step's events.
    """
    t1, t2 = as_of_instant(first), as_of_instant(second)
    timeline, history = await settings_timeline(conn, tenant), await factor_history(conn)
    old_model = model_at(timeline, history, t1, table)
    new_model = model_at(timeline, history, t2, table)
    old, new = await snapshot(conn, tenant, t1), await snapshot(conn, tenant, t2)
    causes: list[dict[str, Any]] = []
    attributed: dict[str, set[str]] = defaultdict(set)

    def report_of(states: dict[AssetKey, AssetState], model: Model) -> dict[str, Any]:
        data = total(
            asset_datapoints(s, model.settings, model.table, year) for s in states.values()
        )
        survival = survival_appendix(states.values(), model.settings, year)
        return flatten(assemble(model.context(tenant, year, None), data, survival))

    # 1. the events recorded between the two dates, with the first date's settings and factors
    def per_asset(states: dict[AssetKey, AssetState]) -> dict[AssetKey, Datapoints]:
        return {
            k: asset_datapoints(s, old_model.settings, old_model.table, year)
            for k, s in states.items()
        }

    per_old, per_new = per_asset(old.states), per_asset(new.states)
    base_totals = total(per_old.values())
    ctx = old_model.context(tenant, year, None)
    old_survival = survival_appendix(old.states.values(), old_model.settings, year)
    start = flatten(assemble(ctx, base_totals, old_survival))
    after_events = report_of(new.states, old_model)
    moved_by_events = _changed(start, after_events)
    event_causes: list[dict[str, Any]] = []
    categories: dict[str, set[str | None]] = {}  # cause -> its asset's categories
    for key in sorted(set(per_old) | set(per_new)):
        before, after = per_old.get(key, {}), per_new.get(key, {})
        if before == after:
            continue
        alone = dict(base_totals)
        for name, value in after.items():
            alone[name] = alone.get(name, 0.0) + value
        for name, value in before.items():
            alone[name] = alone.get(name, 0.0) - value
        moved = sorted(
            _changed(start, flatten(assemble(ctx, alone, old_survival))) & moved_by_events
        )
        for event, recorded in new.events.get(key, []):
            if t1 is None or recorded >= t1:
                categories[f"event:{event.event_id}"] = {
                    s.category for s in (old.states.get(key), new.states.get(key)) if s
                }
                event_causes.append(
                    {
                        "cause": f"event:{event.event_id}",
                        "kind": "event",
                        "event_id": str(event.event_id),
                        "event_type": event.event_type,
                        "asset_id": event.asset_id,
                        "occurred_at": event.occurred_at.isoformat(),
                        "recorded_at": recorded.isoformat(),
                        "changed": moved,
                    }
                )
    for datapoint in moved_by_events:
        named = [c for c in event_causes if datapoint in c["changed"]]
        if not named and datapoint.startswith(_SURVIVAL):
            # a survival curve moves with every asset of its category together
            category = datapoint[len(_SURVIVAL) :].split(".", 1)[0]
            named = [c for c in event_causes if category in categories[c["cause"]]]
        for c in named or event_causes:
            attributed[datapoint].add(c["cause"])
            if datapoint not in c["changed"]:
                c["changed"] = sorted({*c["changed"], datapoint})
    causes += event_causes

    # 2. each settings version, 3. each factor table recorded between the two dates
    steps: list[tuple[dict[str, Any], Model]] = []
    for version in new_model.settings.versions:
        if version.version > old_model.settings.version:
            model = Model(
                new_model.settings.up_to(version.version), old_model.table, old_model.factor_record
            )
            steps.append(
                (
                    {
                        "cause": f"settings:{version.version}",
                        "kind": "settings",
                        **version.describe(),
                    },
                    model,
                )
            )
    low = old_model.factor_record.version if old_model.factor_record else 0
    high = new_model.factor_record.version if new_model.factor_record else 0
    for record in history:
        if low < record.version <= high:
            model = Model(new_model.settings, record.table, record)
            steps.append(
                (
                    {
                        "cause": f"factor_table:{record.version}",
                        "kind": "factor_table",
                        **record.describe(),
                    },
                    model,
                )
            )
    previous = after_events
    for cause, model in steps:
        current = report_of(new.states, model)
        moved = sorted(_changed(previous, current))
        for datapoint in moved:
            attributed[datapoint].add(cause["cause"])
        causes.append({**cause, "changed": moved})
        previous = current

    # After the last step the report is the second date's (its as_of and basis aside).
    end = previous
    changes = [
        {
            "datapoint": k,
            "before": start.get(k),
            "after": end.get(k),
            "caused_by": sorted(attributed[k]),
        }
        for k in sorted(_changed(start, end))
        if k not in ("as_of", "basis")
    ]
    return {
        "tenant_id": tenant,
        "year": year,
        "from_as_of": first,
        "to_as_of": second,
        "attribution": "sequential: the events recorded between the two dates, then each "
        "settings version, then each factor table, in the order they were recorded",
        "changes": changes,
        "caused_by": causes,
    }


async def supplier_scorecard(
    conn: Connection, tenant: str, year: int, as_of: str | None, table: FactorTable
) -> dict[str, Any]:
    """The same KPI definitions per supplier, side by side."""
    before = as_of_instant(as_of)
    model = await model_known_before(conn, tenant, before, table)
    snap = await snapshot(conn, tenant, before)
    by_supplier: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for state in snap.states.values():
        for key, measures in facts(state, model.settings, model.table).aggregates.items():
            if key.month.year == year:
                bucket = by_supplier[key.supplier or "(unknown)"]
                for name, value in measures.items():
                    bucket[name] += value
    return {
        "tenant_id": tenant,
        "year": year,
        "as_of": as_of,
        "factor_source": model.table.source,
        "settings_version": model.settings.version,
        "suppliers": {s: compute(m) for s, m in sorted(by_supplier.items())},
    }


def to_json(report: dict[str, Any]) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["datapoint", "value"])
    for key, value in sorted(flatten(report).items()):
        writer.writerow(
            [
                key,
                ""
                if value is None
                else orjson.dumps(value).decode()
                if not isinstance(value, str)
                else spreadsheet_safe(value),
            ]
        )
    return out.getvalue()


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"# CSRD datapoints - {markdown_cell(report['tenant_id'])}, {report['year']}", ""]
    lines.append(f"As of: {report['as_of'] or 'all events recorded so far'}  ")
    lines.append(f"Basis: {report['basis']}")
    for section, values in report.items():
        if not isinstance(values, dict):
            continue
        lines += ["", f"## {section}", "", "| datapoint | value |", "|---|---|"]
        for key, value in sorted(flatten(values).items()):
            shown = orjson.dumps(value).decode() if isinstance(value, list) else str(value)
            lines.append(f"| {key} | {'' if value is None else markdown_cell(shown)} |")
    return "\n".join(lines) + "\n"
