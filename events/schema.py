"""The JSON Schema integrators code against (``kretslopp schema``)."""

from __future__ import annotations

from typing import Any

from events.codec import EVENT_ADAPTER
from events.examples import EXAMPLES
from events.models import CURRENT_SCHEMA_VERSION


def json_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://kretslopp.dev/schemas/lifecycle-event/v{CURRENT_SCHEMA_VERSION}.json"
    schema["title"] = "kretslopp lifecycle event"
    schema["description"] = (
        "One real-world fact in the life of an IT device: purchased, repaired, redeployed, "
        "taken_back, refurbished or recycled; or a step of the internal re-use marketplace: "
        "offered_for_reuse, reserved, reservation_released, offer_withdrawn. Discriminated on "
        "event_type. Events of schema_version 1 are accepted and upcast."
    )
    schema["examples"] = list(EXAMPLES.values())
    return schema
