"""Adapters' per-tenant settings, typed, over their store (``projections.postgres.adapter_store``,
which also keeps the unmapped lifecycle signals)."""

from __future__ import annotations

from projections.postgres import adapter_store
from projections.postgres.adapter_store import (
    Signal,
    StoredSignal,
    count_signals,
    list_signals,
    record_signals,
)
from projections.postgres.connection import Connection
from services.intake.adapters.base import AdapterSettings

__all__ = [
    "Signal",
    "StoredSignal",
    "count_signals",
    "list_signals",
    "load_settings",
    "record_signals",
    "store_settings",
]


async def load_settings(conn: Connection, tenant_id: str, tool: str) -> AdapterSettings:
    raw = await adapter_store.load_settings(conn, tenant_id, tool)
    return AdapterSettings.model_validate(raw) if raw is not None else AdapterSettings()


async def store_settings(
    conn: Connection, tenant_id: str, tool: str, settings: AdapterSettings
) -> None:
    await adapter_store.store_settings(conn, tenant_id, tool, settings.model_dump(mode="json"))
