"""The projector's memory of each partition's checkpoint (``Projector.resume_at`` and the
writes): a checkpoint PostgreSQL holds below it means the database lost batches, and the
worker must stop rather than write past the hole (``checkpoints.CheckpointWentBack``)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.settings import Settings
from projections.postgres.checkpoints import CheckpointWentBack, require_not_behind
from streams.projector import Projector
from streams.retry import with_backoff


def projector() -> Projector:
    return Projector(Settings(kafka_bootstrap_servers="k:9092", database_url="postgresql://x/y"))


offsets = st.dictionaries(st.integers(0, 7), st.integers(0, 10**12), max_size=8)


@given(found=offsets, seen=offsets)
def test_only_a_checkpoint_below_the_seen_one_of_its_partition_is_behind(
    found: dict[int, int], seen: dict[int, int]
) -> None:
    behind = {p: (o, seen[p]) for p, o in found.items() if p in seen and o < seen[p]}
    if behind:
        with pytest.raises(CheckpointWentBack) as raised:
            require_not_behind(found, seen)
        assert raised.value.behind == behind
        for p, (o, s) in behind.items():
            assert f"partition {p}: {o} < {s}" in str(raised.value)
    else:
        require_not_behind(found, seen)


def test_a_resumed_partition_may_not_go_back_unless_the_worker_reset_it() -> None:
    p = projector()
    p.resume_at({0: 100, 1: 50})
    p.resume_at({0: 120, 1: 50})  # another worker wrote on meanwhile: fine
    with pytest.raises(CheckpointWentBack) as raised:
        p.resume_at({0: 119, 1: 60})
    assert raised.value.behind == {0: (119, 120)}
    p.resume_at({0: 0, 1: 60}, reset={0})  # a recreated topic: the worker set it to 0 itself
    p.resume_at({0: 5, 1: 60})
    with pytest.raises(CheckpointWentBack):
        p.resume_at({0: 4, 1: 60})


def test_a_partition_never_seen_resumes_anywhere() -> None:
    p = projector()
    p.resume_at({3: 7})
    p.resume_at({4: 0})


def test_a_fatal_error_is_not_retried_even_where_every_error_is_transient() -> None:
    calls = 0

    async def action() -> None:
        nonlocal calls
        calls += 1
        raise CheckpointWentBack({1: (3, 4)})

    with pytest.raises(CheckpointWentBack):
        asyncio.run(
            with_backoff(
                "write",
                action,
                transient=(Exception,),
                fatal=(CheckpointWentBack,),
                first_delay_s=0,
            )
        )
    assert calls == 1


def test_a_batch_written_while_the_checkpoints_were_read_is_not_a_loss() -> None:
    """The fault suite caught this: the rebalance read checkpoint 179, the batch in flight
    then committed up to 679, and the check compared 179 with 679."""
    p = projector()
    p.resume_at({3: 100})
    before = p.seen()
    p._seen[3] = 679  # what a write committed meanwhile does (Projector._write)
    p.resume_at({3: 179}, seen_before=before)
    assert p.seen() == {3: 679}
    with pytest.raises(CheckpointWentBack):
        p.resume_at({3: 99}, seen_before=p.seen() | {3: 100})
