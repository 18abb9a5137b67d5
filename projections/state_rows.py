"""Mapping between :class:`AssetState` and rows of the ``asset_state`` table. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import orjson

from projections.asset_state import Anomaly, AnomalyKind, AssetState, Status
from projections.marketplace import Offer

COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "asset_id",
    "status",
    "category",
    "manufacturer",
    "model",
    "serial",
    "supplier",
    "condition",
    "org_unit",
    "purchase_org_unit",
    "purchased_at",
    "ended_at",
    "end_reason",
    "taken_back_at",
    "refurbished_at",
    "second_life_at",
    "recycled_at",
    "recycled_inside_eu_eea",
    "repair_count",
    "redeploy_count",
    "refurbish_count",
    "certifications",
    "product_carbon_footprint_kg_co2e",
    "refurbishment_footprint_kg_co2e",
    "weight_kg",
    "incomplete_history",
    "anomaly_count",
    "anomalies",
    "offers",
    "event_count",
    "first_occurred_at",
    "last_occurred_at",
    "last_event_rank",
    "last_event_id",
)

_PLAIN = COLUMNS[: COLUMNS.index("last_occurred_at")]
_TIMES = {c for c in COLUMNS if c.endswith("_at")}


class Row(Protocol):
    """A database row: asyncpg.Record or a plain dict."""

    def __getitem__(self, key: str, /) -> Any: ...


def to_row(state: AssetState) -> dict[str, Any]:
    """A JSON-ready dict (for ``jsonb_populate_recordset``)."""
    assert state.last_key is not None, "a stored state has seen at least one event"
    row: dict[str, Any] = {}
    for column in _PLAIN:
        value = getattr(state, column)
        if column == "status":
            value = value.value if value is not None else None
        elif column == "certifications":
            value = list(value)
        elif column in ("anomalies", "offers"):
            value = [a.as_json() for a in value]
        elif column in _TIMES and value is not None:
            value = value.isoformat()
        row[column] = value
    occurred_at, rank, event_id = state.last_key
    row["last_occurred_at"] = occurred_at.isoformat()
    row["last_event_rank"] = rank
    row["last_event_id"] = event_id
    return row


# The PostgreSQL type of each column as the writer sends it, one array per column
# (``to_columns``). certifications travel as one comma-joined text (scheme names have no
# comma) because an array of arrays cannot be unnested row by row.
COLUMN_TYPES: dict[str, str] = {
    **{c: "text" for c in COLUMNS},
    **{c: "timestamptz" for c in _TIMES | {"last_occurred_at"}},
    **{c: "int" for c in COLUMNS if c.endswith("_count") or c == "last_event_rank"},
    **{c: "float8" for c in COLUMNS if c.endswith("_kg_co2e") or c == "weight_kg"},
    "recycled_inside_eu_eea": "bool",
    "incomplete_history": "bool",
    "anomalies": "text",  # JSON text, cast in SQL: a list per row would read as a dimension
    "offers": "text",
}


def column_value_sql(column: str) -> str:
    """How the unnested value of ``column`` becomes the column's value."""
    if column == "certifications":
        return "string_to_array(certifications, ',')"
    if column in ("anomalies", "offers"):
        return f"{column}::jsonb"
    return column


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def to_columns(states: list[AssetState]) -> list[list[Any]]:
    """The states as one list per column (in ``COLUMNS`` order), for ``unnest``: typed values
    in asyncpg's binary format, no JSON for PostgreSQL to parse but the anomalies and offers.
    Measured against one JSON document per batch (``jsonb_populate_recordset``): see
    ``projections/postgres/writer.py``."""
    out: list[list[Any]] = [[] for _ in COLUMNS]
    (tenant, asset, status, category, manufacturer, model, serial, supplier, condition, org,
     purchase_org, purchased, ended, reason, taken_back, refurbished, second_life, recycled,
     inside, repairs, redeploys, refurbishes, certifications, pcf, refurb_kg, weight,
     incomplete, anomaly_count, anomalies, offers, event_count, first, last_at, rank,
     last_id) = out  # fmt: skip
    for s in states:
        assert s.last_key is not None, "a stored state has seen at least one event"
        tenant.append(s.tenant_id)
        asset.append(s.asset_id)
        status.append(s.status.value if s.status is not None else None)
        category.append(s.category)
        manufacturer.append(s.manufacturer)
        model.append(s.model)
        serial.append(s.serial)
        supplier.append(s.supplier)
        condition.append(s.condition)
        org.append(s.org_unit)
        purchase_org.append(s.purchase_org_unit)
        purchased.append(s.purchased_at)
        ended.append(s.ended_at)
        reason.append(s.end_reason)
        taken_back.append(s.taken_back_at)
        refurbished.append(s.refurbished_at)
        second_life.append(s.second_life_at)
        recycled.append(s.recycled_at)
        inside.append(s.recycled_inside_eu_eea)
        repairs.append(s.repair_count)
        redeploys.append(s.redeploy_count)
        refurbishes.append(s.refurbish_count)
        certifications.append(",".join(s.certifications))
        pcf.append(s.product_carbon_footprint_kg_co2e)
        refurb_kg.append(s.refurbishment_footprint_kg_co2e)
        weight.append(s.weight_kg)
        incomplete.append(s.incomplete_history)
        anomaly_count.append(s.anomaly_count)
        anomalies.append(_json([a.as_json() for a in s.anomalies]) if s.anomalies else "[]")
        offers.append(_json([o.as_json() for o in s.offers]) if s.offers else "[]")
        event_count.append(s.event_count)
        first.append(s.first_occurred_at)
        last_at.append(s.last_key[0])
        rank.append(s.last_key[1])
        last_id.append(s.last_key[2])
    return out


def to_records(states: list[AssetState]) -> list[tuple[Any, ...]]:
    """The states as rows in ``COLUMNS`` order, for a binary COPY into a fresh table (the
    rebuild, on a connection with ``use_binary_jsonb``): certifications as a list, anomalies
    and offers as JSON values."""
    columns = to_columns(states)
    columns[COLUMNS.index("certifications")] = [list(s.certifications) for s in states]
    columns[COLUMNS.index("anomalies")] = [[a.as_json() for a in s.anomalies] for s in states]
    columns[COLUMNS.index("offers")] = [[o.as_json() for o in s.offers] for s in states]
    return list(zip(*columns, strict=True))


def from_row(row: Row) -> AssetState:
    """Inverse of :func:`to_row`, from an asyncpg record (jsonb decoded by the pool codec)."""
    values: dict[str, Any] = {c: row[c] for c in _PLAIN}
    values["status"] = Status(row["status"]) if row["status"] is not None else None
    values["certifications"] = tuple(row["certifications"])
    values["anomalies"] = tuple(
        Anomaly(
            event_id=a["event_id"],
            event_type=a["event_type"],
            occurred_at=datetime.fromisoformat(a["occurred_at"]),
            kind=AnomalyKind(a["kind"]),
            reason=a.get("reason"),
        )
        for a in row["anomalies"]
    )
    values["offers"] = tuple(Offer.from_json(o) for o in row["offers"])
    values["last_key"] = (row["last_occurred_at"], row["last_event_rank"], row["last_event_id"])
    return AssetState(**values)


def comparable(state: AssetState) -> dict[str, Any]:
    """A canonical dict for equality checks between stored and recomputed states."""
    row = to_row(state)
    for column in _TIMES | {"last_occurred_at"}:
        if row.get(column) is not None:
            row[column] = datetime.fromisoformat(row[column]).timestamp()
    return row
