"""The checkpoint has one home (projections/postgres/checkpoints.py); every reader names its
consumer group and topic (issue #15: `up` summed the checkpoints of every group, so after a
`replay` into the live database its progress counted twice)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import orjson

from projections.batch import Batch, DeadLetter, SourceRecord, prepare
from projections.postgres.connection import migrated
from projections.postgres.writer import apply_batch
from services.demo.up import projected_count
from services.reports.status import collect_status
from tests.factories import event_dict
from tests.integration.conftest import StackEnv


async def test_a_replay_group_in_the_same_database_is_not_counted_by_up_or_status(
    env: StackEnv,
) -> None:
    events = [orjson.dumps(event_dict("purchased", asset=f"a{i}")) for i in range(30)]
    records = [SourceRecord(0, i, None, v) for i, v in enumerate(events)]
    live = env.settings
    async with migrated(env.dsn) as conn:
        await apply_batch(conn, live.consumer_group, live.topic, prepare(records))
        # `kretslopp replay` re-reads the same topic into another group: all duplicates
        await apply_batch(conn, "replay-1", live.topic, prepare(records))
        # and another topic of the live group counts for neither
        await apply_batch(conn, live.consumer_group, "other-topic", prepare(records[:5]))
    assert await projected_count(env.dsn, live) == 30
    assert await projected_count(env.dsn, replace(live, consumer_group="replay-1")) == 30
    report = await collect_status(live)
    assert sum(p.events_applied + p.duplicates_skipped for p in report.partitions) == 30


async def test_a_checkpoint_below_what_the_writer_saw_writes_nothing_and_says_which(
    env: StackEnv,
) -> None:
    """A database restored from a backup (or a lagging replica promoted) holds a checkpoint
    below the one the worker wrote: the batch that would jump over the lost offsets is
    refused in its transaction, so the hole stays open to be read again from Kafka."""
    import pytest

    from projections.postgres.checkpoints import CheckpointWentBack, next_offsets

    events = [orjson.dumps(event_dict("purchased", asset=f"b{i}")) for i in range(20)]
    records = [SourceRecord(p, i, None, v) for i, v in enumerate(events) for p in (i % 2,)]
    group, topic = env.settings.consumer_group, env.settings.topic
    async with migrated(env.dsn) as conn:
        await apply_batch(conn, group, topic, prepare(records[:10]), seen={})
        assert await next_offsets(conn, group, topic, [0, 1]) == {0: 9, 1: 10}
        # what the worker saw before the database lost batches: partition 1 at 16
        with pytest.raises(CheckpointWentBack) as raised:
            await apply_batch(conn, group, topic, prepare(records[16:]), seen={0: 9, 1: 16})
        assert raised.value.behind == {1: (10, 16)}
        assert "partition 1: 10 < 16" in str(raised.value)
        assert await next_offsets(conn, group, topic, [0, 1]) == {0: 9, 1: 10}
        assert await conn.fetchval("SELECT count(*) FROM event_log") == 10
        # at or beyond what it saw, the batch is written
        await apply_batch(conn, group, topic, prepare(records[10:]), seen={0: 9, 1: 10})
        assert await conn.fetchval("SELECT count(*) FROM event_log") == 20


async def test_a_rejection_letter_for_an_event_already_applied_is_not_a_second_count(
    env: StackEnv,
) -> None:
    """A batch commits, but the connection breaks before the worker hears it; a retry on a
    broken connection then fails, the worker writes the batch record by record, and the
    record it cannot write becomes a `rejected_by_database` letter. That record's offset is
    below the checkpoint and its event is in the log: it already counts, so the letter is
    not stored or counted (the fault suite saw (6000 applied, 0, 2 dead letters) for 6000
    events). A letter for an offset not yet passed, or for an event the log does not hold
    (a recreated topic reuses offsets), is stored as before."""
    group, topic = env.settings.consumer_group, env.settings.topic
    values = [orjson.dumps(event_dict("purchased", asset=f"r{i}")) for i in range(3)]
    records = [SourceRecord(0, i, None, v) for i, v in enumerate(values)]
    applied = prepare(records[:2])
    async with migrated(env.dsn) as conn:
        assert (await apply_batch(conn, group, topic, applied)).applied == 2
        ids = [d.event.event_id for d in applied.events]

        def rejected(record: SourceRecord, event_id: UUID) -> Batch:
            letter = DeadLetter(record, "rejected_by_database", None, "InternalClientError")
            return Batch(dead_letters=[replace(letter, event_id=event_id)])

        again = await apply_batch(conn, group, topic, rejected(records[1], ids[1]))
        assert (again.dead_letters, again.below_checkpoint) == (0, 1)
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
        # an event the log does not hold, at a passed offset: new (a recreated topic)
        other = prepare([records[2]]).events[0].event.event_id
        new = await apply_batch(conn, group, topic, rejected(records[0], other))
        assert new.dead_letters == 1
        # an offset not yet passed: stored
        beyond = SourceRecord(0, 5, None, values[2])
        assert (await apply_batch(conn, group, topic, rejected(beyond, other))).dead_letters == 1
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 2
        assert await conn.fetchval("SELECT count(*) FROM event_log") == 2
