"""``kretslopp report takeback``: the 11180:1 take-back report of a tenant's units sent in
between two dates, as known on ``--as-of`` (the same snapshot and versions as the CSRD report).

One row per unit, the shares and totals the condition asks for, and every missing fact named
per unit (``projections/takeback.py``). JSON for systems, CSV for the municipality's
spreadsheet (one row per unit), Markdown for a person.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import orjson

from projections import takeback
from projections.carbon import FactorTable
from projections.postgres.connection import Connection
from services.reports.csrd import as_of_instant, model_known_before, snapshot
from services.reports.formats import markdown_cell, spreadsheet_safe

CONDITION = (
    "Upphandlingsmyndigheten, criterion 11180:1 (base level): reporting on reuse and recycling "
    "of the equipment"
)


class PeriodError(ValueError):
    """--from / --to are not dates or in the wrong order; the message names the option."""


def period_of(first: str, last: str) -> takeback.Period:
    days = []
    for option, text in (("from", first), ("to", last)):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise PeriodError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None
    if days[1] < days[0]:
        raise PeriodError("to: must not be before from")
    return takeback.Period(days[0], days[1])


async def takeback_report(
    conn: Connection,
    tenant: str,
    period: takeback.Period,
    *,
    supplier: str | None,
    counterparty: str | None,
    as_of: str | None,
    table: FactorTable,
) -> dict[str, Any]:
    before = as_of_instant(as_of)
    model = await model_known_before(conn, tenant, before, table)
    snap = await snapshot(conn, tenant, before)
    histories = {k: [e for e, _ in events] for k, events in snap.events.items()}
    body = takeback.report(
        snap.states, histories, model.settings, model.table, period, supplier, counterparty
    )
    return {
        "tenant_id": tenant,
        "condition": CONDITION,
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "supplier": supplier,
        "counterparty": counterparty,
        "as_of": as_of,
        "basis": "units sent in (first take-back, or recycling without one) from..to, UTC; "
        "events recorded up to as_of"
        if as_of
        else "units sent in (first take-back, or recycling without one) from..to, UTC; all "
        "events recorded so far",
        "method": {
            "outcome": "reused: refurbished after the take-back, or taken back for resale or "
            "donation; recycled: recycled after it, taken back for recycling, or recycled "
            "directly; discarded: never derived (no event records a disposal); not_reported: "
            "sent in for refurbishment with no result yet",
            "place": "EU/EEA as reported for the refurbished unit's market, else the "
            "recycling, else the take-back counterparty's processing; unknown when none says",
            "co2e_saved_kg": "the reuse-after-take-back saving d x (E - R) of units with a "
            "second life (docs/methodology.md); not computed for resale or donation without a "
            "refurbishment event",
            "test_result": "the latest functional test: at refurbishment, else at intake",
            "factor_source": model.table.source,
            "factor_version": model.table.version,
            "settings_version": model.settings.version,
        },
        **body,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(
            f"{v['amount']:.2f} {v['currency']} ({v['for']})" if isinstance(v, dict) else str(v)
            for v in value
        )
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _cell(value: Any) -> str:
    """A CSV cell: producers' text made spreadsheet-safe, our numbers as they are."""
    return spreadsheet_safe(_text(value)) if isinstance(value, str | list) else _text(value)


def to_csv(report: dict[str, Any]) -> str:
    """One row per unit, in the columns of ``projections.takeback.COLUMNS``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(takeback.COLUMNS)
    for unit in report["units"]:
        writer.writerow([_cell(unit[c]) for c in takeback.COLUMNS])
    return out.getvalue()


def to_json(report: dict[str, Any]) -> str:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def to_markdown(report: dict[str, Any]) -> str:
    t = report["totals"]
    lines = [
        f"# Take-back report (11180:1) - {markdown_cell(report['tenant_id'])}, "
        f"{report['from']} to {report['to']}",
        "",
        f"{CONDITION}.  ",
        f"Basis: {report['basis']}.  ",
        f"Units: {t['units']}; CO2e saved by reuse: {t['co2e_saved_kg']} kg; units with "
        f"missing facts: {t['units_with_missing_facts']}.",
        "",
        "| outcome | units | share | inside EU/EEA | outside EU/EEA | unknown |",
        "|---|---|---|---|---|---|",
    ]
    for outcome, o in t["by_outcome"].items():
        share = "" if o["share"] is None else f"{o['share']:.1%}"
        lines.append(
            f"| {outcome} | {o['units']} | {share} | {o['inside_eu_eea']} | "
            f"{o['outside_eu_eea']} | {o['eu_eea_unknown']} |"
        )
    paid = ", ".join(f"{v:.2f} {c}" for c, v in t["compensation_by_currency"].items())
    lines += ["", f"Compensation paid to the buyer: {paid or 'none reported'}.", ""]
    columns = [c for c in takeback.COLUMNS if c != "test_report_references"]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for unit in report["units"]:
        lines.append("| " + " | ".join(markdown_cell(_text(unit[c])) for c in columns) + " |")
    return "\n".join(lines) + "\n"
