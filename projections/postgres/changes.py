"""The change notice a batch transaction sends: which tenants' KPIs moved, in which months.

``pg_notify`` inside the transaction is delivered on commit and never for a rollback, so a
listener (``services/http/live.py``) hears exactly the batches that count. PostgreSQL caps a
payload at 8,000 bytes: a notice is split across several, and a tenant with more changed months
than fit in one is sent with ``months: null`` ("fetch everything").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import asyncpg
import orjson
import structlog

from projections.postgres.connection import Connection

log = structlog.get_logger(__name__)

CHANNEL = "kretslopp_changes"
MAX_PAYLOAD = 7_900


def payloads(touched: Iterable[tuple[str, date]], applied: dict[str, int]) -> list[str]:
    """Notice payloads for (tenant, month) KPI rows that changed and events applied per tenant;
    each payload a JSON object ``{tenant: {"months": [...] | null, "applied": n}}``."""
    months: dict[str, set[str]] = {tenant: set() for tenant in applied}
    for tenant, month in touched:
        months.setdefault(tenant, set()).add(month.strftime("%Y-%m"))
    out: list[str] = []
    current: dict[str, Any] = {}
    for tenant in sorted(months):
        entry: dict[str, Any] = {
            "months": sorted(months[tenant]),
            "applied": applied.get(tenant, 0),
        }
        if len(orjson.dumps({tenant: entry})) > MAX_PAYLOAD:
            entry["months"] = None
        if current and len(orjson.dumps({**current, tenant: entry})) > MAX_PAYLOAD:
            out.append(orjson.dumps(current).decode())
            current = {}
        current[tenant] = entry
    if current:
        out.append(orjson.dumps(current).decode())
    return out


def parse_payload(payload: str) -> dict[str, dict[str, Any]]:
    """The listener's side; a payload that is not ours is ignored, never raised on."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(t): v for t, v in parsed.items() if isinstance(v, dict)}


async def notify(
    conn: Connection, touched: Iterable[tuple[str, date]], applied: dict[str, int]
) -> None:
    """Inside the batch transaction, in a savepoint: a notice that PostgreSQL refuses (a full
    notification queue behind a stalled listener, a payload over the limit) is logged and
    dropped - the listeners' streams go stale until the next notice - and never fails the
    batch, whose events would otherwise end as dead letters."""
    for payload in payloads(touched, applied):
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except asyncpg.PostgresError as exc:
            log.warning("change notice dropped", error=repr(exc), bytes=len(payload))


async def notify_everything_changed(conn: Connection, tenant: str) -> None:
    """After a recomputation (settings change): every month of the tenant may have moved."""
    payload = orjson.dumps({tenant: {"months": None, "applied": 0}}).decode()
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
