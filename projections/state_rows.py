"""Mapping between :class:`AssetState` and rows of the ``asset_state`` table. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

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
