"""The event log's payload text is the payload's JSON, whatever its values."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.codec import EVENT_ADAPTER
from projections.event_rows import (
    WRITE_COLUMNS,
    StoredEventInvalid,
    from_row,
    payload_json,
    write_row,
)
from tests.factories import as_logged, event, event_dict, fleet


def test_payload_text_is_the_payload_as_json_for_a_sample_fleet() -> None:
    for obj in fleet(40, 8, seed=11):
        event = EVENT_ADAPTER.validate_python(obj)
        expected = event.payload.model_dump(mode="json", exclude_none=True)
        assert orjson.loads(payload_json(event)) == expected


@given(
    st.floats(0, 1_000_000, allow_nan=False),
    st.floats(0, 100_000, allow_nan=False),
    st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=40),
)
def test_payload_text_keeps_every_float_and_string_exactly(
    pcf: float, kg: float, text: str
) -> None:
    event = EVENT_ADAPTER.validate_python(
        event_dict(
            "purchased",
            product_carbon_footprint_kg_co2e=pcf,
            weight_kg=kg,
            model=text,
            supplier=text,
        )
    )
    decoded = orjson.loads(payload_json(event))
    assert decoded == event.payload.model_dump(mode="json", exclude_none=True)
    assert decoded["product_carbon_footprint_kg_co2e"] == pcf and decoded["model"] == text


def test_write_row_is_what_the_log_stores_of_each_event() -> None:
    """The writer's row per event (type ``event_log_write_row``) holds, attribute by attribute,
    what :func:`from_row` reads back: the same event."""
    for obj in fleet(20, 6, seed=12):
        event = EVENT_ADAPTER.validate_python(obj)
        row = dict(zip(WRITE_COLUMNS, write_row(event, 3, 41), strict=True))
        assert (row["kafka_partition"], row["kafka_offset"]) == (3, 41)
        stored = {**row, "payload": orjson.loads(row["payload"]), "recorded_at": None}
        assert from_row(stored) == event


def _stored(**changes: object) -> dict[str, object]:
    """A row of event_log as the rebuild and the refold read it."""
    return {**as_logged(event("purchased", asset="pc-\u00e5")), **changes}


def test_a_stored_row_is_decoded_as_the_event_it_was() -> None:
    row = _stored()
    assert from_row(row).event_id == row["event_id"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"payload": {"supplier": "At\x1b[2Jea"}}, "payload.supplier: must not contain control"),
        ({"payload": {"weight_kg": -1}}, "payload.weight_kg: Input should be greater than"),
        ({"schema_version": 9}, "schema_version: schema_version 9 is newer than"),
        ({"event_type": "lost"}, "event_type: "),
    ],
)
def test_a_stored_row_the_contract_refuses_is_named_with_its_field(
    changes: dict[str, Any], reason: str
) -> None:
    """A rule tightened since the row was accepted, or a row written by hand: the rebuild and
    the worker's refold stop with the event, its asset and the field, not pydantic's dump."""
    row = _stored()
    payload = changes.pop("payload", {})
    row = _stored(payload={**row["payload"], **payload}, **changes)  # type: ignore[dict-item]
    with pytest.raises(StoredEventInvalid) as caught:
        from_row(row)
    message = str(caught.value)
    assert str(row["event_id"]) in message and "'pc-\u00e5'" in message
    assert reason in message, message
    assert "\x1b" not in message  # a terminal is never driven by a stored value


def test_the_error_crosses_a_process_boundary_whole() -> None:
    """A rebuild part raises it in its own process; the parent re-raises what unpickles."""
    import pickle

    row = _stored(payload={"supplier": "x"})
    with pytest.raises(StoredEventInvalid) as caught:
        from_row(row)
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is StoredEventInvalid and str(again) == str(caught.value)


def test_a_row_stored_under_version_1_is_upcast_and_its_v2_fields_refused() -> None:
    """Rows at the current version skip the upcaster (the rebuild's common case); a row stored
    under version 1 still goes through it, with its rule that version 1 had no such field."""
    row = _stored(schema_version=1)
    assert from_row(row).schema_version == 2
    taken_back = {**as_logged(event("taken_back", asset="pc-1")), "schema_version": 1}
    assert from_row({**taken_back, "payload": {**taken_back["payload"]}}).schema_version == 2
    taken_back["payload"] = {**taken_back["payload"], "inside_eu_eea": True}
    with pytest.raises(StoredEventInvalid, match=r"payload\.inside_eu_eea was added in schema_v"):
        from_row(taken_back)


def test_a_row_read_without_recorded_at_is_the_same_event_but_that() -> None:
    """The log is read by ``COLUMNS``: no recorded_at, which no fold or KPI reads."""
    from projections.event_rows import COLUMNS

    row = _stored()
    assert row["recorded_at"] is not None
    columns = [c.strip() for c in COLUMNS.split(",")]
    assert "recorded_at" not in columns
    folded = from_row({c: row[c] for c in columns})
    assert folded.recorded_at is None
    assert folded == from_row(row).model_copy(update={"recorded_at": None})
