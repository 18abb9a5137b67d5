"""Adapters: what ITSM / ITAM tools really send -> canonical lifecycle events.

None of these tools emits domain events like "taken back" (``docs/adapters.md``); each adapter maps (state, substate, previous state) to the
canonical events through a documented table. A change that carries no lifecycle fact, or one
the table does not cover, is reported back with the reason - never guessed.
"""

from typing import Any, Protocol

from services.intake.adapters import glpi, servicenow, snipeit
from services.intake.adapters.base import AdapterInputError, AdapterOptions, Mapping


class Adapter(Protocol):
    """One tool's mapping: (tenant, the tool's payload, options) -> events or a reason."""

    def __call__(
        self, tenant_id: str, payload: dict[str, Any], options: AdapterOptions | None = None, /
    ) -> Mapping: ...


ADAPTERS: dict[str, Adapter] = {
    "servicenow": servicenow.map_change,
    "snipe-it": snipeit.map_entry,
    "glpi": glpi.map_webhook,
}

__all__ = ["ADAPTERS", "AdapterInputError", "AdapterOptions", "Mapping"]
