"""Which transaction may touch an asset, a tenant's KPIs or the factor model: advisory locks.

Row locks cannot do this job. ``SELECT ... FOR UPDATE`` locks nothing when an asset's row does
not exist yet, so two workers that each received events of one new asset (one key placed on
two partitions by two partitioners: aiokafka's murmur2, librdkafka's CRC32) both folded from
scratch, the later upsert won and both KPI deltas stayed (issue #11: up to 739 KPI values wrong
in 6 of 12 two-worker runs). Likewise a tenant's *first* settings row is invisible to a batch
until it commits, so a batch could fold with the defaults while the recomputation ran.

So every batch transaction takes, before it reads any state:
- a shared lock on the factor model and on each tenant it touches (a settings change or a
  factor-table change takes that lock exclusively, and so waits for running batches and makes
  later ones wait for it);
- an exclusive lock on each asset it touches, so two batches with the same asset run one
  after the other, and the second re-reads what the first committed (READ COMMITTED takes a new
  snapshot per statement).
All are transaction-level (released at commit or rollback, so a crash cannot leak one) and
taken in one global order - the model, then tenants by key, then assets by key - so no two
transactions wait for each other in a cycle. Keys are 64-bit hashes; a collision only makes
two unrelated assets wait for each other, never a wrong figure.

Pure key computation here; the SQL is in ``LOCK_SHARED`` / ``LOCK_EXCLUSIVE``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from projections.postgres.connection import Connection

# Locks are taken in the order of the array (a subquery with ORDER BY is not flattened away).
_IN_ORDER = "FROM (SELECT k FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY n) AS o"
LOCK_SHARED = f"SELECT pg_advisory_xact_lock_shared(k) {_IN_ORDER}"
LOCK_EXCLUSIVE = f"SELECT pg_advisory_xact_lock(k) {_IN_ORDER}"


def _key(*parts: str) -> int:
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


MODEL_KEY = _key("kretslopp", "factor-model")


def tenant_key(tenant_id: str) -> int:
    return _key("kretslopp", "tenant", tenant_id)


def asset_key(tenant_id: str, asset_id: str) -> int:
    return _key("kretslopp", "asset", tenant_id, asset_id)


async def lock_for_batch(conn: Connection, assets: Iterable[tuple[str, str]]) -> None:
    """Shared model and tenant locks, then exclusive asset locks (see the module docstring)."""
    keys = sorted(set(assets))
    if not keys:
        return
    tenants = sorted({tenant_key(t) for t, _ in keys})
    await conn.execute(LOCK_SHARED, [MODEL_KEY, *tenants])
    await conn.execute(LOCK_EXCLUSIVE, sorted({asset_key(t, a) for t, a in keys}))


async def lock_tenant_settings(conn: Connection, tenant_id: str) -> None:
    """Exclusive: no batch of this tenant runs while its settings change and KPIs recompute."""
    await conn.execute(LOCK_SHARED, [MODEL_KEY])
    await conn.execute(LOCK_EXCLUSIVE, [tenant_key(tenant_id)])


async def lock_factor_model(conn: Connection) -> None:
    """Exclusive: no batch runs while every tenant's KPIs recompute with a new factor table."""
    await conn.execute(LOCK_EXCLUSIVE, [MODEL_KEY])
