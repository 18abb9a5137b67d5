"""asyncpg connections and pools with the codecs the projections rely on; ``migrated`` is the
one way a command opens the database (open, migrate, close)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

# PostgreSQL unreachable, restarting, out of connections, a connection it closed, or a
# transaction that lost a race: worth trying again. The worker retries its batch with backoff
# (streams/retry.py); the API answers 503 with Retry-After (services/http/app.py).
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    # a pooled connection whose session PostgreSQL ended (pg_terminate_backend, a restart,
    # idle_session_timeout) before its socket closed: asyncpg hands it out and the next query
    # raises "cannot switch to state 12; another operation (2) is in progress"
    # (MagicStack/asyncpg#1069). In 1,600 queries after ending 8 idle sessions 100 times,
    # 339 raised it. The release then finds it broken and drops it.
    asyncpg.exceptions.InternalClientError,
)

# What a writer accepts: a plain connection or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for json_type in ("jsonb", "json"):
        await conn.set_type_codec(
            json_type, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog"
        )


def _jsonb_binary(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary format: version 1, then the text


def _jsonb_from_binary(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def use_binary_jsonb(conn: asyncpg.Connection) -> None:
    """jsonb in binary format on this connection (same Python values as the text codec), so a
    binary COPY (``copy_records_to_table``) can write jsonb columns: the rebuild's writer."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_binary,
        decoder=_jsonb_from_binary,
        schema="pg_catalog",
        format="binary",
    )


# The longest a statement may take before asyncpg gives up on it.
COMMAND_TIMEOUT_S = 60.0


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 4) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=COMMAND_TIMEOUT_S,
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def spare_connection(pool: asyncpg.Pool) -> AsyncIterator[Connection | None]:
    """A second connection for a request that already holds one, or None when the pool has
    none to spare at once: a request never waits for a second connection while holding its
    first (eight requests holding one each and waiting for another would wait for ever)."""
    if pool.get_idle_size() == 0:
        yield None
        return
    try:
        conn = await pool.acquire(timeout=0.05)
    except TimeoutError:
        yield None
        return
    try:
        yield conn
    finally:
        # asyncpg keeps the acquire's timeout for the release, which resets the connection
        # in a round trip: under load that took over 50 ms and the release raised after the
        # request's reads had succeeded (a 500 in the 1M bench's gateway load). The release
        # gets a query's time instead.
        await pool.release(conn, timeout=COMMAND_TIMEOUT_S)


@asynccontextmanager
async def one_snapshot(first: Connection, second: Connection) -> AsyncIterator[None]:
    """Two connections reading one snapshot (read-only REPEATABLE READ; the second imports
    the first's ``pg_export_snapshot``): two queries of one answer run at the same time and
    still see the same committed batches. Costs three short round trips."""
    async with first.transaction(isolation="repeatable_read", readonly=True):
        snapshot = str(await first.fetchval("SELECT pg_export_snapshot()"))
        async with second.transaction(isolation="repeatable_read", readonly=True):
            # SET TRANSACTION SNAPSHOT takes no parameter; the id comes from PostgreSQL
            await second.execute(f"SET TRANSACTION SNAPSHOT '{snapshot.replace(chr(39), '')}'")
            yield


@asynccontextmanager
async def migrated(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a database whose schema is current; closed on the way out."""
    from projections.postgres.migrate import migrate

    conn = await connect(dsn)
    try:
        await migrate(conn)
        yield conn
    finally:
        await conn.close()
