"""The event log's payload text is the payload's JSON, whatever its values."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from events.codec import EVENT_ADAPTER
from projections.event_rows import WRITE_COLUMNS, from_row, payload_json, write_row
from tests.factories import event_dict, fleet


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
