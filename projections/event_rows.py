"""Mapping between events and rows of the ``event_log`` table. No I/O."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from events.codec import EVENT_VALIDATOR, FieldError, describe, validation_errors
from events.models import CURRENT_SCHEMA_VERSION, LifecycleEvent
from events.upcasting import UnsupportedSchemaVersion, upcast


class Row(Protocol):
    """A database row: asyncpg.Record or a plain dict."""

    def __getitem__(self, key: str, /) -> Any: ...

    def get(self, key: str, /) -> Any: ...


# The columns :func:`from_row` reads: what a read of many events selects (the rebuild reads the
# whole log; the Kafka position columns were decoded for nothing). No recorded_at: the
# database's own clock, which no fold, KPI or conflict check reads (:func:`from_row` leaves it
# None; the CSRD snapshot reads it from its own row). Fetching and decoding 50k rows of the 1M
# bench log, collector off, three rounds: 8.07 us a row with recorded_at, 7.34 without (the id
# as text instead, for pydantic to parse, was dearer: 7.67).
COLUMNS = "event_id, event_type, schema_version, tenant_id, asset_id, occurred_at, source, payload"


# What the writer sends per new event: one row of ``event_log_write_row`` (migration 0012),
# these attributes in this order; the payload is JSON text, cast to jsonb in SQL.
WRITE_ROW_TYPE = "event_log_write_row"
WRITE_COLUMNS: dict[str, str] = {
    "event_id": "uuid",
    "tenant_id": "text",
    "asset_id": "text",
    "event_type": "text",
    "schema_version": "int",
    "occurred_at": "timestamptz",
    "source": "text",
    "payload": "text",
    "kafka_partition": "int",
    "kafka_offset": "bigint",
}


def write_row(event: LifecycleEvent, partition: int, offset: int) -> tuple[Any, ...]:
    """A new event as a row of ``event_log_write_row`` (``WRITE_COLUMNS`` order)."""
    return (
        event.event_id,
        event.tenant_id,
        event.asset_id,
        event.event_type,
        event.schema_version,
        event.occurred_at,
        event.source,
        payload_json(event),
        partition,
        offset,
    )


def payload_json(event: LifecycleEvent) -> str:
    """The payload as JSON text, made by pydantic-core in one step (the same jsonb as
    ``orjson.dumps(payload.model_dump(mode="json"))``, on 2,400 sample events and edge-case
    floats, at ~1/3 of its cost: a Python dict per event was built and then encoded)."""
    return event.payload.model_dump_json(exclude_none=True)


class StoredEventInvalid(ValueError):
    """A row of the event log that today's contract refuses: a rule tightened since the row
    was accepted, or a row written by hand. The rebuild and the worker's refold stop on it
    rather than fold a history with a hole in it; the message names the event, its asset and
    each field (values shown escaped: a stored value never drives the operator's terminal).
    Made from its message alone, so it crosses from a rebuild part's process intact."""

    @classmethod
    def of(cls, row: Row, errors: list[FieldError]) -> StoredEventInvalid:
        return cls(
            f"event {row['event_id']} of tenant {row['tenant_id']!r}, asset {row['asset_id']!r} "
            f"in the event log does not pass the event contract: {describe(errors)!r}"[:2000]
        )


def from_row(row: Row) -> LifecycleEvent:
    """Rebuild an event stored in the log. A row stored under an older schema_version is upcast
    like the event it was. It is validated again, on purpose: the fold needs the typed event,
    and a row the contract refuses today must stop a rebuild, named, not be folded on trust."""
    obj = {
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "schema_version": row["schema_version"],
        "tenant_id": row["tenant_id"],
        "asset_id": row["asset_id"],
        "occurred_at": row["occurred_at"],
        "source": row["source"],
        "recorded_at": row.get("recorded_at"),
        "payload": row["payload"],
    }
    try:
        # nearly every stored row is at the current version: no upcast call (~0.9 us a row)
        if obj["schema_version"] != CURRENT_SCHEMA_VERSION:
            obj = upcast(obj)
        event: LifecycleEvent = EVENT_VALIDATOR.validate_python(obj)
    except ValidationError as exc:
        raise StoredEventInvalid.of(row, validation_errors(exc)) from None
    except UnsupportedSchemaVersion as exc:
        raise StoredEventInvalid.of(row, [FieldError("schema_version", str(exc))]) from None
    return event
