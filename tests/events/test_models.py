"""The contract accepts the documented examples and rejects each class of bad input, naming
the field at fault."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from events.codec import InvalidEvent, decode, decode_object, encode
from events.examples import EXAMPLES
from events.models import EVENT_TYPES, Purchased
from events.schema import json_schema


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_documented_examples_are_valid_and_round_trip(kind: str) -> None:
    example = EXAMPLES[kind]
    event = decode(orjson.dumps(example))
    assert event.event_type == kind
    assert str(event.event_id) == example["event_id"]
    again = decode(encode(event))
    assert again == event


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)


def _purchase() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES["purchased"])


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = obj
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


_DELETE = object()
_NEXT_YEAR = (datetime.now(UTC) + timedelta(days=366)).isoformat()

BAD_INPUTS = [
    ("naive datetime", "occurred_at", "2024-01-01T10:00:00", "occurred_at", "timezone"),
    ("not a datetime", "occurred_at", "yesterday", "occurred_at", "datetime"),
    ("year 1", "occurred_at", "0001-01-01T00:00:00Z", "occurred_at", "1980-01-01"),
    ("year 9999", "occurred_at", "9999-12-31T23:59:59.999999Z", "occurred_at", "in the future"),
    ("past 9999 in UTC", "occurred_at", "9999-12-31T23:00:00-05:00", "occurred_at", "future"),
    ("before year 1 in UTC", "occurred_at", "0001-01-01T00:30:00+01:00", "occurred_at", "1980"),
    ("before 1980", "occurred_at", "1979-12-31T23:59:59Z", "occurred_at", "1980-01-01"),
    ("next year", "occurred_at", _NEXT_YEAR, "occurred_at", "in the future"),
    ("event id not a UUID", "event_id", "42", "event_id", "UUID"),
    ("empty tenant", "tenant_id", "", "tenant_id", "at least 1 character"),
    ("empty asset", "asset_id", "", "asset_id", "at least 1 character"),
    ("tenant with NUL", "tenant_id", "a\x00b", "tenant_id", "control characters"),
    ("asset with ESC", "asset_id", "a\x1b[2Jb", "asset_id", "must not contain control"),
    ("supplier with DEL", "payload.supplier", "At\x7fea", "payload.supplier", "control"),
    ("model with newline", "payload.model", "T14\nGen 3", "payload.model", "control characters"),
    ("org unit with tab", "payload.org_unit", "\tnord", "payload.org_unit", "control characters"),
    ("asset id too long", "asset_id", "x" * 257, "asset_id", "at most 256"),
    ("unknown category", "payload.category", "toaster", "payload.category", "laptop"),
    ("unknown condition", "payload.condition", "used", "payload.condition", "refurbished"),
    (
        "negative footprint",
        "payload.product_carbon_footprint_kg_co2e",
        -1.0,
        "payload.product_carbon_footprint_kg_co2e",
        "greater than or equal to 0",
    ),
    ("negative weight", "payload.weight_kg", -0.5, "payload.weight_kg", "greater than or equal"),
    ("weight as string", "payload.weight_kg", "1.2", "payload.weight_kg", "valid number"),
    ("negative price", "payload.price.amount", -10, "payload.price.amount", "greater than"),
    ("bad currency", "payload.price.currency", "kronor", "payload.price.currency", "pattern"),
    (
        "unknown scheme",
        "payload.certifications",
        [{"scheme": "green-ish"}],
        "payload.certifications[0].scheme",
        "tco_certified",
    ),
    ("missing supplier", "payload.supplier", _DELETE, "payload.supplier", "required"),
    ("unexpected field", "payload.colour", "red", "payload.colour", "not permitted"),
    ("supplier too long", "payload.supplier", "s" * 201, "payload.supplier", "at most 200"),
    ("unknown event type", "event_type", "lost", "event_type", "does not match"),
    ("missing event type", "event_type", _DELETE, "event_type", "discriminator"),
    ("future schema version", "schema_version", 7, "schema_version", "newer than"),
    (
        "warranty out of range",
        "payload.warranty_months",
        1000,
        "payload.warranty_months",
        "less than or equal",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "value", "field", "words"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_rejected_naming_the_field(
    case: str, path: str, value: Any, field: str, words: str
) -> None:
    raw = orjson.dumps(_set(_purchase(), path, value))
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert caught.value.field == field
    assert words in caught.value.message
    assert caught.value.message.startswith(field)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"not json", "not_json"),
        (b'{"event_id": ', "not_json"),
        (b"", "not_json"),
        (None, "not_json"),
        (b"[1, 2]", "validation"),
        (b"x" * 70_000, "too_large"),
    ],
)
def test_undecodable_records_are_classified(raw: bytes | None, kind: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert caught.value.kind == kind


def test_payload_of_another_event_type_is_rejected() -> None:
    obj = _purchase()
    obj["event_type"] = "recycled"
    with pytest.raises(InvalidEvent) as caught:
        decode_object(obj)
    fields = {e.field for e in caught.value.errors}
    assert "payload.recycler" in fields
    assert "payload.inside_eu_eea" in fields


def test_offsets_other_than_utc_are_kept_as_instants() -> None:
    event = decode(orjson.dumps(EXAMPLES["purchased"]))
    assert isinstance(event, Purchased)
    assert event.occurred_at.utcoffset() is not None
    assert event.occurred_at.isoformat() == "2022-03-14T09:30:00+01:00"


def test_json_schema_documents_all_event_types_and_examples() -> None:
    schema = json_schema()
    assert schema["discriminator"]["propertyName"] == "event_type"
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(schema["examples"]) == len(EVENT_TYPES)
    assert "Purchased" in schema["$defs"]


@pytest.mark.parametrize(
    "instant", ["1980-01-01T00:00:00Z", "1980-01-01T00:30:00+00:30", "2026-01-01T00:00:00+14:00"]
)
def test_instants_inside_the_documented_range_are_accepted(instant: str) -> None:
    assert decode(orjson.dumps(_set(_purchase(), "occurred_at", instant))).occurred_at


def test_the_future_bound_follows_the_clock_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The remembered bound admits at once only what the clock admits; anything above it is
    checked against the clock again, so a later clock admits it."""
    from events import models

    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    clock = [start]

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return clock[0]  # type: ignore[return-value]

    monkeypatch.setattr(models, "datetime", Clock)
    bound = models._LatestBound()
    day = timedelta(days=1)
    assert bound.admits(start + day)
    assert not bound.admits(start + day + timedelta(microseconds=1))
    clock[0] = start + timedelta(seconds=5)
    assert bound.admits(start + day + timedelta(seconds=5))
    assert not bound.admits(start + day + timedelta(seconds=6))
    clock[0] = start  # a clock stepped back keeps the bound it reached (replays stay valid)
    assert bound.admits(start + day + timedelta(seconds=5))
