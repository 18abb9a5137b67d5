"""``kretslopp report``: CSRD datapoints, restatements and supplier scorecards for a tenant-year.

Reads only PostgreSQL: the event log, folded again "as known on" ``--as-of`` (events with
``recorded_at`` up to the end of that day), so the report of a closed year can be reproduced
byte for byte after late events have arrived, as long as the tenant settings and the factor
table are unchanged (both are printed in the methodology section).
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
from projections.carbon import FactorTable
from projections.csrd import ReportContext, assemble, asset_datapoints, flatten, total
from projections.kpi_facts import facts
from projections.kpis import compute
from projections.postgres import reads
from projections.postgres.connection import Connection
from projections.postgres.kpi_store import tenant_settings

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


async def csrd(
    conn: Connection, tenant: str, year: int, as_of: str | None, table: FactorTable
) -> dict[str, Any]:
    settings = (await tenant_settings(conn, [tenant]))[tenant]
    snap = await snapshot(conn, tenant, as_of_instant(as_of))
    data = total(asset_datapoints(s, settings, table, year) for s in snap.states.values())
    ctx = ReportContext(tenant, year, as_of, settings, table, settings.scope3_category)
    return assemble(ctx, data)


async def restatement(
    conn: Connection, tenant: str, year: int, first: str, second: str, table: FactorTable
) -> dict[str, Any]:
    """What changed in the year's report between two as-of dates, and which events did it."""
    settings = (await tenant_settings(conn, [tenant]))[tenant]
    t1, t2 = as_of_instant(first), as_of_instant(second)
    old, new = await snapshot(conn, tenant, t1), await snapshot(conn, tenant, t2)
    ctx1 = ReportContext(tenant, year, first, settings, table, settings.scope3_category)
    ctx2 = ReportContext(tenant, year, second, settings, table, settings.scope3_category)
    per_old = {k: asset_datapoints(s, settings, table, year) for k, s in old.states.items()}
    per_new = {k: asset_datapoints(s, settings, table, year) for k, s in new.states.items()}
    flat_old = flatten(assemble(ctx1, total(per_old.values())))
    flat_new = flatten(assemble(ctx2, total(per_new.values())))
    skip = {"as_of"}
    changes = [
        {"datapoint": k, "before": flat_old.get(k), "after": flat_new.get(k)}
        for k in sorted(set(flat_old) | set(flat_new))
        if k not in skip and flat_old.get(k) != flat_new.get(k)
    ]
    causes = []
    for key in sorted(set(per_old) | set(per_new)):
        before, after = per_old.get(key, {}), per_new.get(key, {})
        if before == after:
            continue
        moved = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        for event, recorded in new.events.get(key, []):
            if t1 is None or recorded >= t1:
                causes.append(
                    {
                        "event_id": str(event.event_id),
                        "event_type": event.event_type,
                        "asset_id": event.asset_id,
                        "occurred_at": event.occurred_at.isoformat(),
                        "recorded_at": recorded.isoformat(),
                        "changed": moved,
                    }
                )
    return {
        "tenant_id": tenant,
        "year": year,
        "from_as_of": first,
        "to_as_of": second,
        "changes": changes,
        "caused_by": causes,
    }


async def supplier_scorecard(
    conn: Connection, tenant: str, year: int, as_of: str | None, table: FactorTable
) -> dict[str, Any]:
    """The same KPI definitions per supplier, side by side."""
    settings = (await tenant_settings(conn, [tenant]))[tenant]
    snap = await snapshot(conn, tenant, as_of_instant(as_of))
    by_supplier: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for state in snap.states.values():
        for key, measures in facts(state, settings, table).aggregates.items():
            if key.month.year == year:
                bucket = by_supplier[key.supplier or "(unknown)"]
                for name, value in measures.items():
                    bucket[name] += value
    return {
        "tenant_id": tenant,
        "year": year,
        "as_of": as_of,
        "factor_source": table.source,
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
                else value,
            ]
        )
    return out.getvalue()


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"# CSRD datapoints - {report['tenant_id']}, {report['year']}", ""]
    lines.append(f"As of: {report['as_of'] or 'all events recorded so far'}  ")
    lines.append(f"Basis: {report['basis']}")
    for section, values in report.items():
        if not isinstance(values, dict):
            continue
        lines += ["", f"## {section}", "", "| datapoint | value |", "|---|---|"]
        for key, value in sorted(flatten(values).items()):
            lines.append(f"| {key} | {'' if value is None else value} |")
    return "\n".join(lines) + "\n"
