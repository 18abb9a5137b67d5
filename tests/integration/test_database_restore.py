"""PostgreSQL goes back in time under running workers: a restore from a backup, or a failover
to a replica that lagged. Its checkpoints are then below the offsets the workers fetched,
wrote and committed to Kafka. Nothing may be lost: every partition must resume at the
checkpoint the database now holds and read the lost events again from Kafka.

Before the fix a worker that kept a partition across a rebalance resumed it at the group's
Kafka offset (Faust seeks kept partitions there), and a worker that simply went on wrote its
next batch past the hole, moving the checkpoint over the lost offsets: both lost events
silently. Each test ends with the exact invariant: every event applied once, the projection
the fold of all of them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from streams.app import WRITER_FAILED_EXIT_CODE
from tests.factories import as_record, fleet
from tests.integration.conftest import (
    StackEnv,
    Worker,
    merge_offsets,
    produce,
    totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of


def database_name(env: StackEnv) -> str:
    return urlsplit(env.dsn).path.lstrip("/")


async def admin(env: StackEnv) -> asyncpg.Connection:
    assert env.stack is not None
    return await asyncpg.connect(env.stack.database_url)


async def back_up(env: StackEnv) -> str:
    """A copy of the test's database as it is now (no worker may be connected)."""
    backup = database_name(env) + "_backup"
    conn = await admin(env)
    try:
        await conn.execute(f'CREATE DATABASE "{backup}" TEMPLATE "{database_name(env)}"')
    finally:
        await conn.close()
    return backup


async def restore(env: StackEnv, backup: str) -> None:
    """The database the workers use becomes the backup, as after a failover: their
    connections are cut, and they reconnect to the older state under the same name."""
    name = database_name(env)
    conn = await admin(env)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.execute(f'ALTER DATABASE "{backup}" RENAME TO "{name}"')
    finally:
        await conn.close()


async def wait_kafka_committed(env: StackEnv, last: dict[int, int]) -> None:
    """Until the group's Kafka offsets are at the log end (the commit timer runs each second)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.kafka, group_id=env.settings.consumer_group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            committed = {
                p: await consumer.committed(TopicPartition(env.settings.topic, p)) for p in last
            }
            if all((committed[p] or 0) > last[p] for p in last):
                return
            assert time.monotonic() < deadline, f"Kafka offsets {committed}, log ends {last}"
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def exit_code(worker: Worker, timeout_s: float = 60) -> int:
    assert worker.process is not None
    deadline = time.monotonic() + timeout_s
    while (code := worker.process.poll()) is None:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        await asyncio.sleep(0.2)
    return code


async def restored_after_more_events(
    env: StackEnv, seed: int
) -> tuple[list[dict[str, Any]], Worker]:
    """Worker A applied the first third of the events; the database was backed up; A
    applied the second third and committed it to Kafka; then the backup came back. Returns
    the events of all three thirds, and A (running, connected to the restored database)."""
    objects = fleet(assets=150, events_per_asset=9, seed=seed)
    thirds = [objects[i::3] for i in range(3)]
    first = await produce(env, [as_record(o) for o in thirds[0]])
    a = env.worker("a")
    await wait_until_applied(env, first)
    assert a.terminate() == 0
    backup = await back_up(env)
    a = env.worker("a")
    second = await produce(env, [as_record(o) for o in thirds[1]])
    await wait_until_applied(env, merge_offsets(first, second))
    await wait_kafka_committed(env, merge_offsets(first, second))
    await restore(env, backup)
    assert await totals(env) == (len(thirds[0]), 0, 0)
    return objects, a


async def test_a_worker_that_goes_on_after_a_restore_stops_and_reads_the_lost_events_again(
    env: StackEnv,
) -> None:
    objects, a = await restored_after_more_events(env, seed=81)
    third = objects[2::3]
    last = await produce(env, [as_record(o) for o in third])
    # its next batch finds the checkpoint below where it wrote: it exits, as it does when
    # its writer fails, and a supervisor starts it again
    assert await exit_code(a) == WRITER_FAILED_EXIT_CODE
    assert "checkpoints went back" in a.log()
    a.start()
    await wait_until_applied(env, last)
    assert await totals(env) == (len(objects), 0, 0)
    await assert_projection_is_fold_of(env, objects)


async def test_a_partition_kept_across_a_rebalance_resumes_at_the_restored_checkpoint(
    env: StackEnv,
) -> None:
    objects, a = await restored_after_more_events(env, seed=82)
    applied_before = objects[0::3] + objects[1::3]
    # a second worker joins: A keeps some partitions, B takes the others
    b = env.worker("b")
    # A finds its kept partitions' checkpoints below those it wrote, and exits (code 70);
    # B then holds every partition and resumes each at the restored checkpoint
    assert await exit_code(a) == WRITER_FAILED_EXIT_CODE
    assert "checkpoints went back" in a.log()
    a.start()
    deadline = time.monotonic() + 120
    while await totals(env) != (len(applied_before), 0, 0):
        assert time.monotonic() < deadline, (await totals(env), b.log()[-3000:])
        await asyncio.sleep(0.25)
    await assert_projection_is_fold_of(env, applied_before)
