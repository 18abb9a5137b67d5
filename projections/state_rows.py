"""Mapping between :class:`AssetState` and rows of the ``asset_state`` table. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import orjson

from projections.asset_state import Anomaly, AnomalyKind, AssetState, Status
from projections.instants import utc_text
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
            value = utc_text(value)
        row[column] = value
    occurred_at, rank, event_id = state.last_key
    row["last_occurred_at"] = utc_text(occurred_at)
    row["last_event_rank"] = rank
    row["last_event_id"] = event_id
    return row


# The PostgreSQL type of each column as the writer sends it: one composite row per state
# (``to_tuples``; the type ``asset_state_write_row``, migration 0012, has these attributes in
# this order). certifications travel as one comma-joined text (scheme names have no comma),
# anomalies and offers as JSON text: both are cast in SQL (``column_value_sql``).
COLUMN_TYPES: dict[str, str] = {
    **{c: "text" for c in COLUMNS},
    **{c: "timestamptz" for c in _TIMES | {"last_occurred_at"}},
    **{c: "int" for c in COLUMNS if c.endswith("_count") or c == "last_event_rank"},
    **{c: "float8" for c in COLUMNS if c.endswith("_kg_co2e") or c == "weight_kg"},
    "recycled_inside_eu_eea": "bool",
    "incomplete_history": "bool",
    "anomalies": "text",
    "offers": "text",
}

WRITE_ROW_TYPE = "asset_state_write_row"


def column_value_sql(column: str) -> str:
    """How the unnested value of ``column`` becomes the column's value."""
    if column == "certifications":
        return "string_to_array(certifications, ',')"
    if column in ("anomalies", "offers"):
        return f"{column}::jsonb"
    return column


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def to_tuple(s: AssetState) -> tuple[Any, ...]:
    """One state as a row of ``asset_state_write_row`` (``COLUMNS`` order): typed values in
    asyncpg's binary format, no JSON for PostgreSQL to parse but the anomalies and offers."""
    return _row(
        s,
        ",".join(s.certifications),
        _json([a.as_json() for a in s.anomalies]) if s.anomalies else "[]",
        _json([o.as_json() for o in s.offers]) if s.offers else "[]",
    )


def _row(s: AssetState, certifications: Any, anomalies: Any, offers: Any) -> tuple[Any, ...]:
    """The state's values in ``COLUMNS`` order, with the three columns whose form depends on
    where the row goes (the writer's composite row, the rebuild's COPY) given."""
    assert s.last_key is not None, "a stored state has seen at least one event"
    last_at, rank, last_id = s.last_key
    return (
        s.tenant_id,
        s.asset_id,
        s.status.value if s.status is not None else None,
        s.category,
        s.manufacturer,
        s.model,
        s.serial,
        s.supplier,
        s.condition,
        s.org_unit,
        s.purchase_org_unit,
        s.purchased_at,
        s.ended_at,
        s.end_reason,
        s.taken_back_at,
        s.refurbished_at,
        s.second_life_at,
        s.recycled_at,
        s.recycled_inside_eu_eea,
        s.repair_count,
        s.redeploy_count,
        s.refurbish_count,
        certifications,
        s.product_carbon_footprint_kg_co2e,
        s.refurbishment_footprint_kg_co2e,
        s.weight_kg,
        s.incomplete_history,
        s.anomaly_count,
        anomalies,
        offers,
        s.event_count,
        s.first_occurred_at,
        last_at,
        rank,
        last_id,
    )


def to_tuples(states: list[AssetState]) -> list[tuple[Any, ...]]:
    """The states as rows for ``unnest($1::asset_state_write_row[])``: one array of rows, where
    one array per column cost asyncpg ~50 ABC checks per state (migration 0012)."""
    return [to_tuple(s) for s in states]


def to_records(states: list[AssetState]) -> list[tuple[Any, ...]]:
    """The states as rows in ``COLUMNS`` order, for a binary COPY into a fresh table (the
    rebuild, on a connection with ``use_binary_jsonb``): certifications as a list, anomalies
    and offers as JSON values."""
    return [
        _row(
            s,
            list(s.certifications),
            [a.as_json() for a in s.anomalies],
            [o.as_json() for o in s.offers],
        )
        for s in states
    ]


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
