"""API keys: one per source system (ServiceNow, a supplier's portal, ...), scoped to a tenant.

A key reads ``kl_<key id>_<secret>``. A *tenant* key reads and writes one tenant's data; an
*operator* key (``keys create --operator``) reads operator-wide endpoints such as
``/v1/status`` and no tenant's data. The secret is 256 random bits, so a single SHA-256 is
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

from projections.postgres.connection import Connection

_KEY = re.compile(r"^kl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


OPERATOR = "operator"
TENANT = "tenant"
OPERATOR_TENANT = "*"  # shown for operator keys; never matched against a tenant


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant_id: str
    source: str
    created_at: datetime
    revoked_at: datetime | None
    kind: str = TENANT

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    conn: Connection, tenant_id: str, source: str, *, operator: bool = False
) -> tuple[str, ApiKey]:
    """Returns the full key (shown once) and its stored record."""
    if operator:
        tenant_id = OPERATOR_TENANT
    if not tenant_id or not source:
        raise ValueError("tenant and source must not be empty")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        "INSERT INTO api_keys (key_id, tenant_id, source, secret_hash, kind) "
        "VALUES ($1, $2, $3, $4, $5) "
        "RETURNING key_id, tenant_id, source, created_at, revoked_at, kind",
        key_id,
        tenant_id,
        source,
        _hash(secret),
        OPERATOR if operator else TENANT,
    )
    assert row is not None
    return f"kl_{key_id}_{secret}", ApiKey(**dict(row))


async def replace_key(conn: Connection, tenant_id: str, source: str) -> tuple[str, ApiKey]:
    """Revoke this tenant's active keys of ``source`` and create one, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND source = $2 "
            "AND kind = 'tenant' AND revoked_at IS NULL",
            tenant_id,
            source,
        )
        return await create_key(conn, tenant_id, source)


async def verify(conn: Connection, presented: str) -> ApiKey | None:
    """The key's record if the key is well-formed, known, not revoked and the secret matches."""
    match = _KEY.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = await conn.fetchrow(
        "SELECT key_id, tenant_id, source, created_at, revoked_at, secret_hash, kind "
        "FROM api_keys WHERE key_id = $1",
        key_id,
    )
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    return ApiKey(
        row["key_id"], row["tenant_id"], row["source"], row["created_at"], None, row["kind"]
    )


async def revoke(conn: Connection, key_id: str) -> bool:
    result = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return result.endswith(" 1")


async def list_keys(conn: Connection, tenant_id: str | None = None) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT key_id, tenant_id, source, created_at, revoked_at, kind FROM api_keys "
        "WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, created_at",
        tenant_id,
    )
    return [ApiKey(**dict(r)) for r in rows]
