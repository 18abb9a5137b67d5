"""The one home of the per-partition checkpoint: the next offset PostgreSQL has not applied,
per (consumer group, topic, partition), with counters of what was applied.

Written only inside a batch transaction (``writer.apply_batch``), so it always moves with the
rows it covers; read when a partition is assigned (the worker resumes there), by ``status``
and by ``up``'s progress. Every read names its consumer group and topic: a ``replay`` into the
live database writes checkpoints of another group, which must not count twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from projections.postgres.connection import Connection


@dataclass(frozen=True, slots=True)
class Checkpoint:
    partition: int
    next_offset: int
    events_applied: int
    duplicates_skipped: int
    dead_letters: int


class CheckpointWentBack(RuntimeError):
    """PostgreSQL holds less of a partition than this worker saw it hold.

    A checkpoint only moves forward (``advance``), so a lower one means the database lost
    committed batches: restored from a backup, or failed over to a replica that lagged, while
    the worker ran. The worker's own position (where it fetches, what it holds in memory) is
    then past events PostgreSQL no longer has; writing on from there would seal the hole
    (the checkpoint jumps over it). The worker stops instead; restarted, it resumes each
    partition at PostgreSQL's checkpoint and reads the lost events again from Kafka.
    """

    def __init__(self, behind: Mapping[int, tuple[int, int]]) -> None:
        self.behind = dict(behind)  # partition -> (PostgreSQL's checkpoint, what was seen)
        detail = ", ".join(
            f"partition {p}: {found} < {seen}" for p, (found, seen) in sorted(self.behind.items())
        )
        super().__init__(
            f"PostgreSQL's checkpoints went back ({detail}): the database lost committed "
            "batches (restored from a backup, or failed over to a replica that lagged)"
        )


def require_not_behind(found: Mapping[int, int], seen: Mapping[int, int]) -> None:
    """Raise :class:`CheckpointWentBack` if any checkpoint in ``found`` is below what ``seen``
    (the highest this worker read or wrote) holds for its partition."""
    behind = {p: (o, seen[p]) for p, o in found.items() if p in seen and o < seen[p]}
    if behind:
        raise CheckpointWentBack(behind)


_ENSURE = """
INSERT INTO checkpoints (consumer_group, topic, kafka_partition, next_offset)
SELECT $1, $2, p, 0 FROM unnest($3::int[]) AS p
ON CONFLICT DO NOTHING
"""

_LOCK = """
SELECT kafka_partition, next_offset FROM checkpoints
WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = ANY($3::int[])
ORDER BY kafka_partition
FOR UPDATE
"""

_ADVANCE = """
UPDATE checkpoints c
SET next_offset = GREATEST(c.next_offset, u.next_offset),
    events_applied = c.events_applied + u.applied,
    duplicates_skipped = c.duplicates_skipped + u.duplicates,
    dead_letters = c.dead_letters + u.dead,
    updated_at = now()
FROM unnest($3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
     AS u(p, next_offset, applied, duplicates, dead)
WHERE c.consumer_group = $1 AND c.topic = $2 AND c.kafka_partition = u.p
"""


async def lock(
    conn: Connection,
    group: str,
    topic: str,
    partitions: list[int],
    seen: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Inside a batch transaction: create missing rows, lock them in partition order, return
    each partition's next offset. With ``seen`` (the highest checkpoint the writer read or
    wrote per partition), raise :class:`CheckpointWentBack` where PostgreSQL holds less."""
    await conn.execute(_ENSURE, group, topic, partitions)
    rows = await conn.fetch(_LOCK, group, topic, partitions)
    found = {r["kafka_partition"]: r["next_offset"] for r in rows}
    if seen is not None:
        require_not_behind(found, seen)
    return found


async def advance(
    conn: Connection,
    group: str,
    topic: str,
    partitions: list[int],
    next_offsets: list[int],
    applied: list[int],
    duplicates: list[int],
    dead_letters: list[int],
) -> None:
    """Inside the batch transaction, after its rows: never moves a checkpoint backwards."""
    await conn.execute(
        _ADVANCE, group, topic, partitions, next_offsets, applied, duplicates, dead_letters
    )


async def next_offsets(
    conn: Connection, group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """Where each partition resumes; 0 where nothing was ever applied."""
    rows = await conn.fetch(
        "SELECT kafka_partition, next_offset FROM checkpoints "
        "WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = ANY($3::int[])",
        group,
        topic,
        partitions,
    )
    found = {r["kafka_partition"]: r["next_offset"] for r in rows}
    return {p: found.get(p, 0) for p in partitions}


async def reset(conn: Connection, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """Forget the positions of a topic that was recreated (offsets restart at 0).

    Safe because the event log, not the offset, decides what counts: re-read events are
    recognised by ``event_id`` as duplicates. The counters stay: they describe history.
    Returns the checkpoints that were dropped.
    """
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT kafka_partition, next_offset FROM checkpoints WHERE consumer_group = $1 "
            "AND topic = $2 AND kafka_partition = ANY($3::int[]) FOR UPDATE",
            group,
            topic,
            partitions,
        )
        await conn.execute(
            "UPDATE checkpoints SET next_offset = 0, updated_at = now() WHERE consumer_group = $1"
            " AND topic = $2 AND kafka_partition = ANY($3::int[])",
            group,
            topic,
            partitions,
        )
    return {r["kafka_partition"]: r["next_offset"] for r in rows}


async def of_group(conn: Connection, group: str, topic: str) -> list[Checkpoint]:
    """Every partition's checkpoint of one group and topic (empty before the first batch)."""
    if await conn.fetchval("SELECT to_regclass('checkpoints') IS NULL"):
        return []
    rows = await conn.fetch(
        "SELECT kafka_partition, next_offset, events_applied, duplicates_skipped, dead_letters "
        "FROM checkpoints WHERE consumer_group = $1 AND topic = $2 ORDER BY kafka_partition",
        group,
        topic,
    )
    return [
        Checkpoint(
            r["kafka_partition"],
            r["next_offset"],
            r["events_applied"],
            r["duplicates_skipped"],
            r["dead_letters"],
        )
        for r in rows
    ]


async def records_done(conn: Connection, group: str, topic: str) -> int:
    """Records one group finished with on one topic: applied, duplicate or dead-lettered."""
    return sum(
        c.events_applied + c.duplicates_skipped + c.dead_letters
        for c in await of_group(conn, group, topic)
    )
