"""AssetState <-> asset_state row mapping loses nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.models import LifecycleEvent
from projections import state_rows
from projections.asset_state import TYPE_RANK, fold
from tests.factories import T0, as_logged, event
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


def _as_the_log_keeps_it(e: LifecycleEvent) -> LifecycleEvent:
    """The event as a rebuild reads it back (instant in UTC, payload from its JSON text)."""
    from projections import event_rows

    return event_rows.from_row(as_logged(e))


def _with_offsets(events: list[LifecycleEvent], hours: list[int]) -> list[LifecycleEvent]:
    """The same instants, as producers in other time zones send them."""
    from datetime import timezone

    return [
        e.model_copy(update={"occurred_at": e.occurred_at.astimezone(timezone(timedelta(hours=h)))})
        for e, h in zip(events, hours * len(events), strict=False)
    ]


@given(histories(), st.lists(st.integers(-12, 14), min_size=1, max_size=5))
def test_the_live_row_equals_the_rebuilt_row_whatever_the_producers_offsets(
    events: list[LifecycleEvent], hours: list[int]
) -> None:
    """The worker folds events as producers sent them; a rebuild folds what the log keeps
    (instants in UTC). The rows they write must be the same, byte for byte: an anomaly's or an
    offer's instant is kept as JSON text, and ``+02:00`` there once differed from ``+00:00``."""
    live = _with_offsets(events, hours)
    rebuilt = [_as_the_log_keeps_it(e) for e in live]
    live_state, rebuilt_state = fold(live), fold(rebuilt)
    assert live_state is not None and rebuilt_state is not None
    assert state_rows.to_tuple(live_state) == state_rows.to_tuple(rebuilt_state)
    assert state_rows.to_row(live_state) == state_rows.to_row(rebuilt_state)


def test_the_same_holds_for_the_marketplace_of_the_sample_fleet() -> None:
    from services.demo.sample_fleet import as_events, generate

    by_asset: dict[tuple[str, str], list[LifecycleEvent]] = {}
    for e in _with_offsets(as_events(generate(300, seed=3)), [2, -5, 9]):
        by_asset.setdefault((e.tenant_id, e.asset_id), []).append(e)
    offers = 0
    for history in by_asset.values():
        live, rebuilt = fold(history), fold([_as_the_log_keeps_it(e) for e in history])
        assert live is not None and rebuilt is not None
        offers += len(live.offers)
        assert state_rows.to_tuple(live) == state_rows.to_tuple(rebuilt)
    assert offers > 0
