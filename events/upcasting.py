"""Upcasters: bring an event written against an older ``schema_version`` up to the current one.

Each is a pure function on the decoded JSON object, registered as ``UPCASTERS[N]`` (version N
to N + 1), so version-N producers keep working unchanged after a bump of
``CURRENT_SCHEMA_VERSION`` (docs/methodology.md, "Contract versions").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from events.models import CURRENT_SCHEMA_VERSION, MARKETPLACE_TYPES

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]


class UnsupportedSchemaVersion(ValueError):
    pass


# Payload fields that version 2 added, per event type: a version-1 event cannot carry them.
ADDED_IN_V2: dict[str, tuple[str, ...]] = {
    "taken_back": (
        "data_erasure_certificate_reference",
        "functional_test",
        "compensation",
        "inside_eu_eea",
    ),
    "refurbished": ("functional_test", "inside_eu_eea"),
    "recycled": ("data_erasure_certificate_reference", "compensation"),
}


def upcast_v1_to_v2(raw: JsonObject) -> JsonObject:
    """Version 2 only added optional payload fields, so a version-1 event is the same event
    in version 2, unless it already carries one of them: then it was not a valid version-1
    event, and the producer is told to say version 2."""
    if raw.get("event_type") in MARKETPLACE_TYPES:
        raise UnsupportedSchemaVersion(
            f"event_type {raw['event_type']} was added in schema_version 2; send schema_version 2"
        )
    payload = raw.get("payload")
    if isinstance(payload, dict):
        for name in ADDED_IN_V2.get(str(raw.get("event_type")), ()):
            if name in payload:
                raise UnsupportedSchemaVersion(
                    f"payload.{name} was added in schema_version 2; send schema_version 2"
                )
    return dict(raw)


# version N -> function returning the same event as version N + 1
UPCASTERS: dict[int, Upcaster] = {1: upcast_v1_to_v2}


def upcast(
    raw: JsonObject,
    upcasters: Mapping[int, Upcaster] | None = None,
    current: int = CURRENT_SCHEMA_VERSION,
) -> JsonObject:
    """Apply upcasters one version at a time until the object is at ``current``."""
    chain = UPCASTERS if upcasters is None else upcasters
    version = raw.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UnsupportedSchemaVersion("schema_version must be a positive integer")
    if version > current:
        raise UnsupportedSchemaVersion(
            f"schema_version {version} is newer than this consumer supports ({current})"
        )
    while version < current:
        step = chain.get(version)
        if step is None:
            raise UnsupportedSchemaVersion(f"no upcaster from schema_version {version}")
        raw = step(raw)
        version += 1
        raw["schema_version"] = version
    return raw
