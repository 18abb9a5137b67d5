"""API keys: one per source system (ServiceNow, a supplier's portal, ...), scoped to a tenant.

A key reads ``kl_<key id>_<secret>``. The secret is 256 random bits, so a single SHA-256 is
enough to store it safely (no password stretching needed for non-human secrets); only the hash
is stored, compared in constant time. Keys are created and revoked from the command line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from projections.database import Connection

_KEY = re.compile(r"^kl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant_id: str
    source: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(conn: Connection, tenant_id: str, source: str) -> tuple[str, ApiKey]:
    """Returns the full key (shown once) and its stored record."""
    if not tenant_id or not source:
        raise ValueError("tenant and source must not be empty")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        "INSERT INTO api_keys (key_id, tenant_id, source, secret_hash) VALUES ($1, $2, $3, $4) "
        "RETURNING key_id, tenant_id, source, created_at, revoked_at",
        key_id,
        tenant_id,
        source,
        _hash(secret),
    )
    assert row is not None
    return f"kl_{key_id}_{secret}", ApiKey(**dict(row))


async def verify(conn: Connection, presented: str) -> ApiKey | None:
    """The key's record if the key is well-formed, known, not revoked and the secret matches."""
    match = _KEY.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = await conn.fetchrow(
        "SELECT key_id, tenant_id, source, created_at, revoked_at, secret_hash "
        "FROM api_keys WHERE key_id = $1",
        key_id,
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    return ApiKey(row["key_id"], row["tenant_id"], row["source"], row["created_at"], None)


async def revoke(conn: Connection, key_id: str) -> bool:
    result = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return result.endswith(" 1")


async def list_keys(conn: Connection, tenant_id: str | None = None) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT key_id, tenant_id, source, created_at, revoked_at FROM api_keys "
        "WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, created_at",
        tenant_id,
    )
    return [ApiKey(**dict(r)) for r in rows]
