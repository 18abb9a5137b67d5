"""A read that uses two connections at once sees one snapshot, and never waits for a second
connection while it holds its first."""

from __future__ import annotations

import asyncio

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
