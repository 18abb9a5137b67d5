"""The marketplace's commands, fixed by their first attempt (``marketplace_commands``,
migration 0015).

A command's event takes the time the command was first sent. A client that got a 503 sends
the command again with the same ``request_id``; if the first attempt's event had reached the
topic after all, the retry must produce the very same event, so that the worker counts the
second copy as a duplicate. A retry that made a new ``occurred_at`` was a conflicting
duplicate: a dead letter for a benign retry. The row is written and committed before the
event is produced, outside any transaction of the command, so a failed produce keeps it.
"""

from __future__ import annotations

from datetime import datetime

from projections.postgres.connection import Connection


async def first_sent(
    conn: Connection, tenant_id: str, event_id: str, fingerprint: str, now: datetime
) -> datetime | None:
    """When the command ``event_id`` was first sent (``now`` if this is the first time), or
    None if the id was first sent with another command or by another tenant."""
    if conn.is_in_transaction():
        raise RuntimeError("first_sent must commit on its own, before the command's transaction")
    await conn.execute(
        "INSERT INTO marketplace_commands (event_id, tenant_id, fingerprint, occurred_at) "
        "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        tenant_id,
        fingerprint,
        now,
    )
    row = await conn.fetchrow(
        "SELECT tenant_id, fingerprint, occurred_at FROM marketplace_commands "
        "WHERE event_id = $1::uuid",
        event_id,
    )
    if row is None or row["tenant_id"] != tenant_id or row["fingerprint"] != fingerprint:
        return None
    at: datetime = row["occurred_at"]
    return at
