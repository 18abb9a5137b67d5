"""Validate a submission of events (HTTP body, adapter output) before anything is produced.

Policy for a batch with invalid items: **all or nothing**. If any item is invalid, nothing is
produced and every invalid item is reported (index, event id if readable, field, reason); the
producer fixes them and sends the batch again. Re-sending valid items is harmless: ``event_id``
is the idempotency key. Items repeated inside one submission are sent once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from pydantic import TypeAdapter, ValidationError

from events.codec import InvalidEvent, decode_object
from events.models import LifecycleEvent

MAX_ITEMS = 1000
# Deepest JSON nesting accepted in a request body. An event is 4 levels deep; adapter payloads
# a few more. Deeper bodies got a 500 between 255 and 1,024 levels (orjson's encoder limit)
# and a 400 beyond: now one answer for any depth over the limit.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"body is nested deeper than {MAX_JSON_DEPTH} levels"


class SubmissionError(Exception):
    """The submission as a whole is unusable (not JSON, empty, too many items)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    event_id: str | None
    field: str
    reason: str


@dataclass
class Submission:
    events: list[LifecycleEvent] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    repeated: int = 0


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_body(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise SubmissionError(400, TOO_DEEP) from None
        raise SubmissionError(400, f"body is not valid JSON: {exc}") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise SubmissionError(400, TOO_DEEP)
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise SubmissionError(422, "body must be one event (a JSON object) or an array of events")


def validate_items(items: list[Any], tenant_id: str, max_items: int = MAX_ITEMS) -> Submission:
    if not items:
        raise SubmissionError(422, "no events in the request")
    if len(items) > max_items:
        raise SubmissionError(413, f"{len(items)} events in one request; at most {max_items}")
    out = Submission()
    seen: set[str] = set()
    for index, item in enumerate(items):
        event_id = str(item.get("event_id")) if isinstance(item, dict) else None
        try:
            event = decode_object(item)
        except InvalidEvent as exc:
            for error in exc.errors:
                out.errors.append(ItemError(index, event_id, error.field, error.reason))
            continue
        if event.tenant_id != tenant_id:
            out.errors.append(
                ItemError(
                    index,
                    event_id,
                    "tenant_id",
                    f"is {event.tenant_id!r}, but this request is for tenant {tenant_id!r}",
                )
            )
            continue
        if str(event.event_id) in seen:
            out.repeated += 1
            continue
        seen.add(str(event.event_id))
        out.events.append(event)
    return out


# The whole body validated in one pass of pydantic-core, straight from the bytes.
_EVENT_ARRAY: TypeAdapter[list[LifecycleEvent]] = TypeAdapter(list[LifecycleEvent])


def validate_body(body: bytes, tenant_id: str, max_items: int = MAX_ITEMS) -> Submission:
    """A request body of events, validated: the fast path first, the exact one for any fault.

    Most bodies are arrays of valid current-version events of the path's tenant. For them,
    one ``validate_json`` of the bytes gives the same events as parsing the body to Python,
    measuring its depth and validating item by item (0.97 ms instead of 2.34 ms per 100-event
    body on the 2-core machine; the depth walk alone was 0.6 ms). Anything else (invalid JSON,
    a bad or older-version item, another tenant, too many items, one object) takes the exact
    path, which names every fault; a body that validates is at most the contract's depth.
    """
    if body[:1] == b"[" or body.lstrip()[:1] == b"[":
        try:
            events = _EVENT_ARRAY.validate_json(body, strict=True)
        except ValidationError:
            events = None
        if events and len(events) <= max_items and all(e.tenant_id == tenant_id for e in events):
            out = Submission()
            seen: set[UUID] = set()
            for event in events:
                if event.event_id in seen:
                    out.repeated += 1
                    continue
                seen.add(event.event_id)
                out.events.append(event)
            return out
    return validate_items(parse_body(body), tenant_id, max_items)
