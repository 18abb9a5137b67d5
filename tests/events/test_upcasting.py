"""The upcasting hook lets version 2 arrive without breaking version-1 producers."""

from __future__ import annotations

from typing import Any

import pytest

from events.upcasting import UnsupportedSchemaVersion, upcast


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    # e.g. a v2 that renames payload.supplier to payload.supplier_name
    payload = dict(raw["payload"])
    payload["supplier_name"] = payload.pop("supplier")
    return {**raw, "payload": payload}


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "payload": {**raw["payload"], "added_in_v3": True}}


CHAIN = {1: _v1_to_v2, 2: _v2_to_v3}


def test_v1_event_is_upcast_step_by_step_to_current() -> None:
    out = upcast({"schema_version": 1, "payload": {"supplier": "Atea"}}, CHAIN, current=3)
    assert out == {
        "schema_version": 3,
        "payload": {"supplier_name": "Atea", "added_in_v3": True},
    }


def test_current_version_passes_unchanged() -> None:
    raw = {"schema_version": 3, "payload": {"x": 1}}
    assert upcast(dict(raw), CHAIN, current=3) == raw


def test_missing_version_means_v1() -> None:
    assert upcast({"payload": {"supplier": "A"}}, CHAIN, current=2)["schema_version"] == 2


@pytest.mark.parametrize("version", [0, -1, "1", True, 1.5])
def test_malformed_version_is_rejected(version: Any) -> None:
    with pytest.raises(UnsupportedSchemaVersion):
        upcast({"schema_version": version}, CHAIN, current=3)


def test_newer_than_supported_is_rejected_with_both_versions_named() -> None:
    with pytest.raises(UnsupportedSchemaVersion, match="4 is newer than this consumer supports"):
        upcast({"schema_version": 4}, CHAIN, current=3)


def test_gap_in_chain_is_reported() -> None:
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster from schema_version 2"):
        upcast({"schema_version": 1, "payload": {"supplier": "A"}}, {1: _v1_to_v2}, current=3)


def test_a_version_1_event_is_the_same_event_in_version_2() -> None:
    import orjson

    from events.codec import decode, encode
    from tests.factories import event_dict

    v1 = {**event_dict("taken_back", asset="x"), "schema_version": 1}
    event = decode(orjson.dumps(v1))
    assert event.schema_version == 2
    assert orjson.loads(encode(event))["payload"] == v1["payload"]


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("taken_back", "functional_test", {"result": "passed"}),
        ("taken_back", "compensation", {"amount": 1, "currency": "SEK"}),
        ("taken_back", "data_erasure_certificate_reference", "W1"),
        ("taken_back", "inside_eu_eea", True),
        ("refurbished", "inside_eu_eea", False),
        ("recycled", "compensation", {"amount": 1, "currency": "SEK"}),
    ],
)
def test_a_version_1_event_cannot_carry_a_version_2_field(
    kind: str, field: str, value: object
) -> None:
    import orjson

    from events.codec import InvalidEvent, decode
    from tests.factories import event_dict

    payload: dict[str, Any] = {field: value}
    v1 = {**event_dict(kind, asset="x", **payload), "schema_version": 1}
    with pytest.raises(InvalidEvent, match=f"payload.{field} was added in schema_version 2"):
        decode(orjson.dumps(v1))
    assert decode(orjson.dumps({**v1, "schema_version": 2})).schema_version == 2


def test_a_row_stored_under_version_1_is_read_back_as_version_2() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from projections.event_rows import from_row

    row = {
        "event_id": uuid4(),
        "event_type": "recycled",
        "schema_version": 1,
        "tenant_id": "t",
        "asset_id": "a",
        "occurred_at": datetime(2024, 1, 1, tzinfo=UTC),
        "source": "tests",
        "recorded_at": datetime(2024, 1, 2, tzinfo=UTC),
        "payload": {"recycler": "Stena", "inside_eu_eea": True},
    }
    event = from_row(row)
    assert (event.schema_version, event.event_type) == (2, "recycled")
