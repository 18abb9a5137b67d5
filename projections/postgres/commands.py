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
from typing import NamedTuple

from projections.postgres.connection import Connection


class FirstSent(NamedTuple):
    at: datetime
    now: bool  # this attempt is the first: refused before its event is produced, it is forgotten


async def first_sent(
    conn: Connection, tenant_id: str, event_id: str, fingerprint: str, now: datetime
) -> FirstSent | None:
    """When the command ``event_id`` was first sent (``now`` if this is the first time), or
    None if the id was first sent with another command or by another tenant."""
    if conn.is_in_transaction():
        raise RuntimeError("first_sent must commit on its own, before the command's transaction")
    pinned = await conn.fetchval(
        "INSERT INTO marketplace_commands (event_id, tenant_id, fingerprint, occurred_at) "
        "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING true",
        event_id,
        tenant_id,
        fingerprint,
        now,
    )
    if pinned:
        return FirstSent(now, True)
    row = await conn.fetchrow(
        "SELECT tenant_id, fingerprint, occurred_at FROM marketplace_commands "
        "WHERE event_id = $1::uuid",
        event_id,
    )
    if row is None or row["tenant_id"] != tenant_id or row["fingerprint"] != fingerprint:
        return None
    return FirstSent(row["occurred_at"], False)


async def forget(conn: Connection, tenant_id: str, event_id: str) -> None:
    """Drop the first send of a command refused before anything was produced (a reservation
    of an offer another unit holds): sent again later, it is carried out then, and its event
    takes that time. Only the attempt that pinned the time may drop it: a later attempt
    cannot know whether an earlier one's event reached the topic (a 503)."""
    if conn.is_in_transaction():
        raise RuntimeError("forget must commit on its own, after the command's transaction")
    await conn.execute(
        "DELETE FROM marketplace_commands WHERE event_id = $1::uuid AND tenant_id = $2",
        event_id,
        tenant_id,
    )
