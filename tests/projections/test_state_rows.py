"""AssetState <-> asset_state row mapping loses nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given

from events.models import LifecycleEvent
from projections import state_rows
from projections.asset_state import TYPE_RANK, fold
from tests.factories import T0, event
from tests.projections.test_asset_state import histories


def _as_db_row(row: dict[str, Any]) -> dict[str, Any]:
    """What asyncpg hands back: timestamps as datetimes, arrays as lists."""
    out = dict(row)
    for column in state_rows.COLUMNS:
        if column.endswith("_at") and out[column] is not None:
            out[column] = datetime.fromisoformat(out[column])
    return out


@given(histories())
def test_row_round_trip(events: list[LifecycleEvent]) -> None:
    state = fold(events)
    assert state is not None
    row = state_rows.to_row(state)
    assert set(row) == set(state_rows.COLUMNS)
    assert state_rows.from_row(_as_db_row(row)) == state


def test_row_of_recycled_asset_with_anomaly() -> None:
    state = fold(
        [
            event("purchased"),
            event("recycled", at=T0 + timedelta(days=3)),
            event("repaired", at=T0 + timedelta(days=4)),
        ]
    )
    assert state is not None
    row = state_rows.to_row(state)
    assert row["status"] == "recycled"
    assert row["anomaly_count"] == 1
    assert row["anomalies"][0]["kind"] == "event_after_recycled"
    assert row["last_event_rank"] == TYPE_RANK["repaired"] == 10


@given(histories())
def test_write_row_is_the_row_column_by_column(events: list[LifecycleEvent]) -> None:
    """The writer sends each state as one composite row (``to_tuple``); each attribute carries
    what the row mapping stores, in the form its SQL turns back into that value."""
    import orjson

    state = fold(events)
    assert state is not None
    row = state_rows.to_tuple(state)
    assert len(row) == len(state_rows.COLUMNS)
    sent = dict(zip(state_rows.COLUMNS, row, strict=True))
    sent["certifications"] = [s for s in sent["certifications"].split(",") if s]
    sent["anomalies"] = orjson.loads(sent["anomalies"])
    sent["offers"] = orjson.loads(sent["offers"])
    assert state_rows.from_row(sent) == state


@given(histories())
def test_copy_record_is_the_row_column_by_column(events: list[LifecycleEvent]) -> None:
    """The rebuild's COPY records carry the same values, with lists and JSON values where the
    fresh table's columns are arrays and jsonb."""
    state = fold(events)
    assert state is not None
    (record,) = state_rows.to_records([state])
    assert state_rows.from_row(dict(zip(state_rows.COLUMNS, record, strict=True))) == state
