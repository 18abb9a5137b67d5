"""Adapters' per-tenant settings (as JSON; ``services.intake.adapter_store`` types them) and
their unmapped lifecycle signals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.postgres.connection import Connection


@dataclass(frozen=True, slots=True)
class Signal:
    """An adapter change with a lifecycle signal that maps to no event."""

    index: int
    asset_id: str
    reason: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredSignal:
    id: int
    tenant_id: str
    tool: str
    asset_id: str
    reason: str
    received_at: datetime


async def load_settings(conn: Connection, tenant_id: str, tool: str) -> dict[str, Any] | None:
    raw = await conn.fetchval(
        "SELECT settings FROM adapter_settings WHERE tenant_id = $1 AND tool = $2",
        tenant_id,
        tool,
    )
    return dict(raw) if raw is not None else None


async def store_settings(
    conn: Connection, tenant_id: str, tool: str, settings: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO adapter_settings (tenant_id, tool, settings) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (tenant_id, tool) DO UPDATE SET settings = EXCLUDED.settings, "
        "updated_at = now()",
        tenant_id,
        tool,
        settings,
    )


async def record_signals(
    conn: Connection, tenant_id: str, tool: str, signals: list[Signal]
) -> None:
    if not signals:
        return
    await conn.executemany(
        "INSERT INTO adapter_unmapped (tenant_id, tool, asset_id, reason, payload) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        [(tenant_id, tool, s.asset_id, s.reason, s.payload) for s in signals],
    )


async def list_signals(
    conn: Connection, tenant_id: str | None, tool: str | None, limit: int = 200
) -> list[StoredSignal]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, tool, asset_id, reason, received_at FROM adapter_unmapped "
        "WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR tool = $2) "
        "ORDER BY id DESC LIMIT $3",
        tenant_id,
        tool,
        limit,
    )
    return [StoredSignal(**dict(r)) for r in rows]


async def count_signals(conn: Connection, tenant_id: str | None) -> dict[str, int]:
    """Unmapped lifecycle signals per tool (one tenant, or all)."""
    if await conn.fetchval("SELECT to_regclass('adapter_unmapped') IS NULL"):
        return {}
    rows = await conn.fetch(
        "SELECT tool, count(*) AS n FROM adapter_unmapped "
        "WHERE $1::text IS NULL OR tenant_id = $1 GROUP BY tool ORDER BY tool",
        tenant_id,
    )
    return {r["tool"]: r["n"] for r in rows}
