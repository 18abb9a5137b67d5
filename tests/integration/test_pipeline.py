"""Kafka -> Faust worker -> PostgreSQL, end to end, with real processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

import orjson

from projections.postgres.connection import connect
from tests.factories import T0, as_record, event_dict, fleet
from tests.integration.conftest import (
    StackEnv,
    checkpoints,
    fetch_all,
    merge_offsets,
    produce,
    records_of,
    totals,
    wait_for_totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of


async def test_10k_events_applied_exactly_once_then_replayed_as_duplicates(env: StackEnv) -> None:
    objects = fleet(assets=500, events_per_asset=20, seed=11)
    assert len(objects) == 10_000
    env.worker()
    last = await produce(env, [as_record(o) for o in objects])
    await wait_until_applied(env, last)
    assert await totals(env) == (10_000, 0, 0)
    await assert_projection_is_fold_of(env, objects)
    before = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")

    # The same 10,000 events again: same event ids, new offsets.
    last_again = await produce(env, [as_record(o) for o in objects])
    assert all(last_again[p] > last[p] for p in last)
    await wait_until_applied(env, last_again)
    assert await totals(env) == (10_000, 10_000, 0)
    after = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    ignore = {"updated_at"}
    assert [{k: v for k, v in r.items() if k not in ignore} for r in after] == [
        {k: v for k, v in r.items() if k not in ignore} for r in before
    ]
    assert [r["updated_at"] for r in after] == [r["updated_at"] for r in before]
    await assert_projection_is_fold_of(env, objects)


async def test_poison_records_are_dead_lettered_and_the_partition_keeps_moving(
    env: StackEnv,
) -> None:
    asset = "poison-neighbour"
    good_before = [event_dict("purchased", asset=asset)]
    not_json = b'{"event_id": "this is not json'
    invalid = orjson.dumps(
        {**event_dict("repaired", asset=asset), "occurred_at": "2024-01-01T10:00:00"}
    )
    good_after = [event_dict("repaired", asset=asset, at=T0 + timedelta(days=30))] + [
        event_dict("purchased", asset=f"other-{i}") for i in range(50)
    ]
    key = as_record(good_before[0])[0]
    records = (
        [as_record(o) for o in good_before]
        + [(key, not_json), (key, invalid)]
        + [as_record(o) for o in good_after]
    )
    env.worker()
    last = await produce(env, records)
    await wait_until_applied(env, last)

    dead = await fetch_all(
        env.dsn, "SELECT * FROM dead_letters ORDER BY kafka_partition, kafka_offset"
    )
    assert [bytes(d["record_value"]) for d in dead] == [not_json, invalid]
    assert [d["reason_kind"] for d in dead] == ["not_json", "validation"]
    assert dead[1]["field"] == "occurred_at"
    assert "timezone" in dead[1]["reason"]
    assert all(bytes(d["record_key"]) == key for d in dead)
    assert await totals(env) == (52, 0, 2)
    await assert_projection_is_fold_of(env, good_before + good_after)

    # The dead letters are on the dead-letter topic too, with the reason in headers.
    values = sorted(
        (m.value, dict(m.headers)["kretslopp-reason-kind"])
        for m in await records_of(env.kafka, env.settings.dead_letter_topic)
    )
    assert values == sorted([(not_json, b"not_json"), (invalid, b"validation")])


async def test_worker_sigkilled_mid_stream_loses_nothing_and_counts_nothing_twice(
    env: StackEnv,
) -> None:
    objects = fleet(assets=400, events_per_asset=15, seed=23)
    first = env.worker("first")
    last = await produce(env, [as_record(o) for o in objects[:4500]])
    # wait until it is part-way through, then kill it without warning
    await wait_for_totals(env, 500)
    first.kill()
    applied_when_killed, _, _ = await totals(env)
    assert 500 <= applied_when_killed < 4500, "the kill must land mid-stream"
    last = merge_offsets(last, await produce(env, [as_record(o) for o in objects[4500:]]))
    env.worker("second")
    await wait_until_applied(env, last)
    applied, _, dead = await totals(env)
    assert (applied, dead) == (6000, 0)
    await assert_projection_is_fold_of(env, objects)


async def test_kafka_offsets_ahead_of_postgres_are_rewound_to_the_checkpoint(
    env: StackEnv,
) -> None:
    """Offsets acknowledged to Kafka but never written to PostgreSQL (e.g. a shutdown that
    cancelled a write) must not be skipped: PostgreSQL's checkpoint decides where to resume."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    objects = fleet(assets=50, events_per_asset=10, seed=5)
    last = await produce(env, [as_record(o) for o in objects])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.kafka,
        group_id=env.settings.consumer_group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(env.settings.topic, p) for p in last]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(last[tp.partition] + 1, "") for tp in tps})
    finally:
        await consumer.stop()

    env.worker()
    await wait_until_applied(env, last)
    assert await totals(env) == (500, 0, 0)
    await assert_projection_is_fold_of(env, objects)


async def test_the_group_s_kafka_offsets_follow_postgresql_once_written(env: StackEnv) -> None:
    """The worker commits a batch's offsets to Kafka only once PostgreSQL holds it
    (``KretsloppConsumer.written``, once a second): at the end the group's offsets are the
    checkpoints, so ``kafka-consumer-groups`` shows no lag; and while it works they are never
    ahead of them. Faust had committed what the agent had taken, written or not."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.kafka, group_id=env.settings.consumer_group, enable_auto_commit=False
    )
    await consumer.start()

    async def kafka_offsets(partitions: Iterable[int]) -> dict[int, int]:
        out = {}
        for p in partitions:
            committed = await consumer.committed(TopicPartition(env.settings.topic, p))
            out[p] = -1 if committed is None else committed
        return out

    try:
        objects = fleet(assets=300, events_per_asset=10, seed=61)
        last = await produce(env, [as_record(o) for o in objects])
        env.worker()
        conn = await connect(env.dsn)
        try:
            seen_ahead: list[tuple[dict[int, int], dict[int, int]]] = []
            deadline = time.monotonic() + 120
            while True:
                kafka = await kafka_offsets(last)
                pg = await checkpoints(conn, env)  # read after Kafka: at least as far
                if any(kafka[p] > pg.get(p, 0) for p in last):
                    seen_ahead.append((kafka, pg))
                if all(kafka[p] == pg.get(p, 0) == last[p] + 1 for p in last):
                    break
                assert time.monotonic() < deadline, f"Kafka {kafka}, PostgreSQL {pg}"
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        assert seen_ahead == []
    finally:
        await consumer.stop()
    assert await totals(env) == (3000, 0, 0)


async def test_checkpoints_of_a_recreated_topic_are_reset_and_nothing_is_skipped(
    env: StackEnv,
) -> None:
    """The embedded broker forgets topics on restart: offsets start again at 0 while
    PostgreSQL still holds checkpoints of the old topic. Those must not hide new events."""
    from projections.postgres.connection import connect
    from projections.postgres.migrate import migrate

    conn = await connect(env.dsn)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO checkpoints (consumer_group, topic, kafka_partition, next_offset) "
            "SELECT $1, $2, p, 100000 FROM generate_series(0, 3) p",
            env.settings.consumer_group,
            env.settings.topic,
        )
    finally:
        await conn.close()
    objects = fleet(assets=40, events_per_asset=5, seed=3)
    last = await produce(env, [as_record(o) for o in objects])
    assert max(last.values()) < 100000
    worker = env.worker()
    await wait_for_totals(env, 200)  # the old checkpoints say "done": wait on the counts
    await wait_until_applied(env, last)
    assert await totals(env) == (200, 0, 0)
    await assert_projection_is_fold_of(env, objects)
    assert "topic was recreated" in worker.log()


async def test_worker_waits_for_an_unreachable_database_and_loses_nothing(
    env: StackEnv,
) -> None:
    """The database does not exist when the worker starts: it retries with backoff,
    acknowledges nothing, and applies everything once the database is there."""
    import asyncpg

    from tests.integration.conftest import database_url

    later = "t_later_" + uuid.uuid4().hex[:8]
    env.settings = replace(env.settings, database_url=database_url(env.dsn, later))
    objects = fleet(assets=30, events_per_asset=5, seed=9)
    last = await produce(env, [as_record(o) for o in objects])
    worker = env.worker()
    for _ in range(300):  # until it has tried and failed to reach the database
        if "transient failure; retrying" in worker.log():
            break
        await asyncio.sleep(0.1)
    assert "transient failure; retrying" in worker.log()
    await asyncio.sleep(2)  # a few more failed attempts while events wait on the broker
    admin = await asyncpg.connect(database_url(env.dsn, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{later}"')
    finally:
        await admin.close()
    try:
        await wait_until_applied(env, last)
        assert await totals(env) == (150, 0, 0)
        await assert_projection_is_fold_of(env, objects)
    finally:
        worker.kill()
        admin = await asyncpg.connect(database_url(env.dsn, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{later}" WITH (FORCE)')
        finally:
            await admin.close()
