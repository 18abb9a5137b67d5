"""A read that uses two connections at once sees one snapshot, and never waits for a second
connection while it holds its first."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from projections.postgres.connection import connect, create_pool, one_snapshot, spare_connection
from projections.postgres.migrate import migrate
from tests.integration.conftest import StackEnv


async def test_two_connections_on_one_snapshot_see_the_same_commits(env: StackEnv) -> None:
    setup = await connect(env.dsn)
    await migrate(setup)
    await setup.execute("CREATE TABLE seen (n int)")
    await setup.execute("INSERT INTO seen VALUES (1)")
    pool = await create_pool(env.dsn, min_size=2, max_size=2)
    try:
        async with pool.acquire() as first, spare_connection(pool) as second:
            assert second is not None
            async with one_snapshot(first, second):
                await setup.execute("INSERT INTO seen VALUES (2)")  # committed meanwhile
                counts = await asyncio.gather(
                    first.fetchval("SELECT count(*) FROM seen"),
                    second.fetchval("SELECT count(*) FROM seen"),
                )
                assert list(counts) == [1, 1]
        async with pool.acquire() as after:
            assert await after.fetchval("SELECT count(*) FROM seen") == 2
    finally:
        await pool.close()
        await setup.close()


async def test_no_spare_connection_means_none_not_a_wait(env: StackEnv) -> None:
    """A pool of one: the request holding it gets None at once (and answers with its one
    connection); with nested acquires, requests holding one each would wait for ever."""
    pool = await create_pool(env.dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            async with asyncio.timeout(2), spare_connection(pool) as spare:
                assert spare is None
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_slow_release_of_the_spare_connection_is_not_an_error(env: StackEnv) -> None:
    """asyncpg keeps an acquire's timeout for the release, and the release resets the
    connection in a round trip to PostgreSQL. The spare is acquired with a 50 ms timeout
    (it must not wait); under load the reset took longer, the release raised TimeoutError
    after the request's queries had all succeeded, and the read was a 500 (seen once in the
    1M bench's gateway load). Here PostgreSQL's answer to the reset takes 200 ms."""

    async def slow_reset(conn: Any) -> None:
        await conn.execute("SELECT pg_sleep(0.2)")

    pool = await asyncpg.create_pool(env.dsn, min_size=2, max_size=2, reset=slow_reset)
    try:
        async with pool.acquire() as conn, spare_connection(pool) as spare:
            assert spare is not None
            assert await spare.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT 1") == 1
        async with pool.acquire() as first, pool.acquire() as second:  # both went back whole
            assert [await first.fetchval("SELECT 2"), await second.fetchval("SELECT 3")] == [2, 3]
    finally:
        await pool.close()
