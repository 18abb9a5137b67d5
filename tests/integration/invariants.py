"""The invariant every integration test ends with, asserted exactly."""

from __future__ import annotations

from typing import Any

from events.codec import EVENT_ADAPTER
from events.models import LifecycleEvent
from projections import event_rows, state_rows
from projections.asset_state import fold_all
from tests.integration.conftest import StackEnv, fetch_all


def valid_events(objects: list[dict[str, Any]]) -> list[LifecycleEvent]:
    """Distinct (by event_id) events, first occurrence kept."""
    seen: dict[str, LifecycleEvent] = {}
    for obj in objects:
        seen.setdefault(obj["event_id"], EVENT_ADAPTER.validate_python(obj))
    return list(seen.values())


async def assert_projection_is_fold_of(env: StackEnv, produced: list[dict[str, Any]]) -> None:
    expected = valid_events(produced)
    log_rows = await fetch_all(env.dsn, "SELECT * FROM event_log")
    assert sorted(str(r["event_id"]) for r in log_rows) == sorted(
        str(e.event_id) for e in expected
    ), "event log must hold each distinct valid event exactly once"

    state_rows_ = await fetch_all(env.dsn, "SELECT * FROM asset_state")
    stored = {
        (r["tenant_id"], r["asset_id"]): state_rows.comparable(state_rows.from_row(r))
        for r in state_rows_
    }
    from_produced = {k: state_rows.comparable(v) for k, v in fold_all(expected).items()}
    from_log = {
        k: state_rows.comparable(v)
        for k, v in fold_all(event_rows.from_row(r) for r in log_rows).items()
    }
    assert stored.keys() == from_produced.keys()
    mismatched = [k for k in stored if stored[k] != from_produced[k]]
    assert not mismatched, (
        f"{len(mismatched)} asset states differ from the fold, e.g. {mismatched[:3]}"
    )
    assert stored == from_log
