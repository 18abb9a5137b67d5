"""The checkpoint has one home (projections/postgres/checkpoints.py); every reader names its
consumer group and topic (issue #15: `up` summed the checkpoints of every group, so after a
`replay` into the live database its progress counted twice)."""

from __future__ import annotations

from dataclasses import replace

import orjson

from projections.batch import SourceRecord, prepare
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
