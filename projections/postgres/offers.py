"""The HTTP path's guard on reservations: one holder per offer through the API
(``offer_reservations``, migration 0011).

Two clients reserving one open offer at once both see it open in the projection, since the
worker has applied neither reservation yet. So the API claims the offer first: the INSERT of
the second waits on the first's primary-key row until that transaction ends, then finds it and
answers 409. The claim's transaction stays open while the event is produced, so a failed
produce leaves no claim. The fold of the events stays the truth; this only keeps two API
callers from both being told they hold it.
"""

from __future__ import annotations

from projections.postgres.connection import Connection


async def claim(
    conn: Connection, tenant_id: str, offer_id: str, org_unit: str, event_id: str
) -> tuple[str, str] | None:
    """None if this reservation now holds the offer, else (holder's org unit, its event id).
    Call inside the transaction that produces the event."""
    won = await conn.fetchval(
        "INSERT INTO offer_reservations (tenant_id, offer_id, org_unit, event_id) "
        "VALUES ($1, $2::uuid, $3, $4::uuid) ON CONFLICT DO NOTHING RETURNING 1",
        tenant_id,
        offer_id,
        org_unit,
        event_id,
    )
    if won:
        return None
    row = await conn.fetchrow(
        "SELECT org_unit, event_id::text AS event_id FROM offer_reservations "
        "WHERE tenant_id = $1 AND offer_id = $2::uuid",
        tenant_id,
        offer_id,
    )
    if row is None:  # released between the two statements: try once more
        return await claim(conn, tenant_id, offer_id, org_unit, event_id)
    return row["org_unit"], row["event_id"]


async def holder(conn: Connection, tenant_id: str, offer_id: str) -> str | None:
    unit: str | None = await conn.fetchval(
        "SELECT org_unit FROM offer_reservations WHERE tenant_id = $1 AND offer_id = $2::uuid",
        tenant_id,
        offer_id,
    )
    return unit


async def unclaim(conn: Connection, tenant_id: str, offer_id: str) -> None:
    await conn.execute(
        "DELETE FROM offer_reservations WHERE tenant_id = $1 AND offer_id = $2::uuid",
        tenant_id,
        offer_id,
    )
