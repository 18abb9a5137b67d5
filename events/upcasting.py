"""Upcasters: bring an event written against an older ``schema_version`` up to the current one.

When version 2 of the contract arrives, register ``UPCASTERS[1] = upcast_v1_to_v2`` (a pure
function on the decoded JSON object) and bump ``CURRENT_SCHEMA_VERSION``; version-1 producers
keep working unchanged, and the event log stores what they sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from events.models import CURRENT_SCHEMA_VERSION

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]

# version N -> function returning the same event as version N + 1
UPCASTERS: dict[int, Upcaster] = {}


class UnsupportedSchemaVersion(ValueError):
    pass


def upcast(
    raw: JsonObject,
    upcasters: dict[int, Upcaster] | None = None,
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
