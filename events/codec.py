"""Bytes <-> events. The single place where untrusted input becomes a typed event.

Decoding never raises anything but :class:`InvalidEvent`, which names the field and the reason
so a dead letter or an HTTP 422 can tell the producer exactly what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from events.models import (
    CONTROL_CHARS_REASON,
    NO_CONTROL_CHARS,
    NON_EMPTY_NO_CONTROL_CHARS,
    NON_EMPTY_NO_CONTROL_CHARS_REASON,
    LifecycleEvent,
)
from events.upcasting import UnsupportedSchemaVersion, upcast

EVENT_ADAPTER: TypeAdapter[LifecycleEvent] = TypeAdapter(LifecycleEvent)
# pydantic-core's validator itself, for the paths every event takes (the writer's decode, the
# rebuild's stored rows): TypeAdapter's wrapper cost ~0.4-0.7 us of the 3.4-7.3 us an event
# takes to validate (timeit, sample-fleet events). Same schema, same errors.
EVENT_VALIDATOR = EVENT_ADAPTER.validator

MAX_EVENT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str


def describe(errors: list[FieldError]) -> str:
    """``field: reason; ...``: how a dead letter, a 422 and the CLI name what is wrong."""
    return "; ".join(f"{e.field}: {e.reason}" if e.field else e.reason for e in errors)


class InvalidEvent(ValueError):
    """Raised for bytes that are not a valid lifecycle event."""

    def __init__(self, kind: str, errors: list[FieldError]) -> None:
        self.kind = kind  # "not_json" | "too_large" | "schema_version" | "validation"
        self.errors = errors
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return describe(self.errors)

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None


def _field_path(loc: tuple[int | str, ...], tagged: bool) -> str:
    # pydantic puts the discriminator tag first for tagged unions: ('purchased', 'payload', ...)
    parts = list(loc[1:] if tagged and loc else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def reason_of(err: ErrorDetails) -> str:
    """What to tell a producer about one of pydantic's errors: its own message, but the
    contract's rules in the contract's words (a regex is no explanation)."""
    if err["type"] == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern")
        if pattern == NO_CONTROL_CHARS:
            return CONTROL_CHARS_REASON
        if pattern == NON_EMPTY_NO_CONTROL_CHARS:
            return NON_EMPTY_NO_CONTROL_CHARS_REASON
    return err["msg"]


def validation_errors(exc: ValidationError, tagged: bool = True) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        path = _field_path(tuple(err["loc"]), tagged and err["type"] != "union_tag_invalid")
        if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            path = "event_type"
        errors.append(FieldError(field=path, reason=reason_of(err)))
    return errors


def decode_object(obj: Any) -> LifecycleEvent:
    """Validate an already-parsed JSON value (HTTP bodies arrive this way)."""
    if not isinstance(obj, dict):
        raise InvalidEvent("validation", [FieldError("", "an event must be a JSON object")])
    try:
        obj = upcast(obj)
    except UnsupportedSchemaVersion as exc:
        raise InvalidEvent("schema_version", [FieldError("schema_version", str(exc))]) from None
    try:
        raw = orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:  # nested deeper than the encoder allows
        raise InvalidEvent("validation", [FieldError("", f"not an event: {exc}")]) from None
    return _validate_json(raw)


def _validate_json(raw: bytes) -> LifecycleEvent:
    # Strict JSON mode: "251" is not a number and 1 is not a boolean; ISO strings still parse
    # to datetimes, UUIDs and enums because JSON has no other spelling for them.
    try:
        event: LifecycleEvent = EVENT_VALIDATOR.validate_json(raw, strict=True)
    except ValidationError as exc:
        raise InvalidEvent("validation", validation_errors(exc)) from None
    return event


def decode(raw: bytes | None) -> LifecycleEvent:
    if raw is None:
        raise InvalidEvent("not_json", [FieldError("", "record has no value (tombstone)")])
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(
            "too_large", [FieldError("", f"event is {len(raw)} bytes; limit {MAX_EVENT_BYTES}")]
        )
    try:
        # Fast path: one parse by pydantic-core for events already at the current version.
        event: LifecycleEvent = EVENT_VALIDATOR.validate_json(raw, strict=True)
        return event
    except ValidationError as exc:
        first_error = exc.errors(include_url=False)[0]
        if first_error["type"] != "json_invalid" and not _needs_upcast(exc):
            raise InvalidEvent("validation", validation_errors(exc)) from None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", [FieldError("", f"not valid JSON: {exc}")]) from None
    return decode_object(obj)


def _needs_upcast(exc: ValidationError) -> bool:
    return any(err["loc"][-1:] == ("schema_version",) for err in exc.errors(include_url=False))


def encode(event: LifecycleEvent) -> bytes:
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def partition_key(event: LifecycleEvent) -> bytes:
    """All events of one asset of one tenant share a key, hence a partition and an order."""
    return key_for(event.tenant_id, event.asset_id)


def key_for(tenant_id: str, asset_id: str) -> bytes:
    # A NUL separator cannot occur in either id (validated), so the key is unambiguous.
    return tenant_id.encode() + b"\x00" + asset_id.encode()
