"""Fault injection against the real broker and PostgreSQL. Every case ends with the invariant:
projections = pure fold of the event log = pure fold of the distinct valid events produced;
each checkpoint = last offset + 1; KPIs = a one-pass recomputation."""

from __future__ import annotations

import asyncio

import pytest

from projections.postgres.connection import connect
from streams.app import WRITER_FAILED_EXIT_CODE
from tests.factories import as_record, fleet
from tests.integration.conftest import (
    StackEnv,
    checkpoints,
    end_client_sessions,
    merge_offsets,
    produce,
    totals,
    wait_for_totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of


async def _assert_checkpoints_exact(env: StackEnv, last: dict[int, int]) -> None:
    conn = await connect(env.dsn)
    try:
        assert await checkpoints(conn, env) == {p: o + 1 for p, o in last.items()}
    finally:
        await conn.close()


async def _wait_dead(worker: object, seconds: float = 60) -> int:
    process = worker.process  # type: ignore[attr-defined]
    for _ in range(int(seconds * 10)):
        if process.poll() is not None:
            return int(process.returncode)
        await asyncio.sleep(0.1)
    log = worker.log()[-8000:]  # type: ignore[attr-defined]
    raise AssertionError(f"the worker did not die at the fault point\n{log}")


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
async def test_worker_killed_at_the_commit_boundary(env: StackEnv, point: str) -> None:
    """SIGKILL inside the batch transaction (nothing committed) and right after the commit
    (PostgreSQL has it, Kafka offsets do not): the next worker loses and repeats nothing."""
    objects = fleet(assets=200, events_per_asset=10, seed=51)
    last = await produce(env, [as_record(o) for o in objects])
    doomed = env.worker("doomed", {"KRETSLOPP_FAULT": f"{point}:3"})
    assert await _wait_dead(doomed) == -9
    applied_at_death, _, _ = await totals(env)
    assert 0 < applied_at_death < 2000  # died mid-stream, two or three batches in
    env.worker("next")
    await wait_until_applied(env, last)
    assert await totals(env) == (2000, 0, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_three_workers_one_killed_the_others_take_over(env: StackEnv) -> None:
    objects = fleet(assets=400, events_per_asset=15, seed=52)
    workers = [env.worker(f"w{i}") for i in range(3)]
    last = await produce(env, [as_record(o) for o in objects[:3000]])
    await wait_for_totals(env, 600)
    workers[1].kill()
    last = merge_offsets(last, await produce(env, [as_record(o) for o in objects[3000:]]))
    await wait_until_applied(env, last, timeout_s=180)
    applied, _, dead = await totals(env)
    assert (applied, dead) == (6000, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_postgres_restarted_under_load(env: StackEnv) -> None:
    if env.stack is None or env.stack.postgres is None:
        pytest.skip("needs the embedded PostgreSQL, which the test can restart")
    objects = fleet(assets=300, events_per_asset=20, seed=53)
    env.worker()
    producing = asyncio.create_task(produce(env, [as_record(o) for o in objects]))
    await wait_for_totals(env, 1000)
    await asyncio.to_thread(env.stack.postgres.restart)
    last = await producing
    await wait_until_applied(env, last, timeout_s=180)
    assert await totals(env) == (6000, 0, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)
    assert "transient failure; retrying" in env.workers[0].log()


async def test_worker_connections_terminated_under_load(env: StackEnv) -> None:
    """PostgreSQL ends the worker's sessions again and again (``pg_terminate_backend``, as an
    operator, a failover or ``idle_session_timeout`` does) while it applies. A pooled idle
    connection then receives the server's goodbye before its socket closes, and the next
    query on it raises asyncpg's ``InternalClientError`` ("cannot switch to state 12"),
    which the worker did not count as transient: it wrote the batch one event at a time and
    dead-lettered valid events. Every event must be applied once, and none dead-lettered."""
    objects = fleet(assets=300, events_per_asset=20, seed=59)
    env.worker()
    producing = asyncio.create_task(produce(env, [as_record(o) for o in objects]))
    await wait_for_totals(env, 500)
    admin = await connect(env.dsn)
    try:
        ended = 0
        for _ in range(40):
            ended += await end_client_sessions(admin)
            await asyncio.sleep(0.15)
    finally:
        await admin.close()
    assert ended > 0, "no session of the worker was ended: the test proves nothing"
    last = await producing
    await wait_until_applied(env, last, timeout_s=180)
    assert await totals(env) == (6000, 0, 0), env.workers[0].log()[-6000:]
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_out_of_order_events_of_one_asset_and_duplicates_at_new_offsets(
    env: StackEnv,
) -> None:
    objects = fleet(assets=50, events_per_asset=10, seed=54)
    reversed_order = list(reversed(objects))  # every asset's history arrives backwards
    env.worker()
    last = await produce(env, [as_record(o) for o in reversed_order])
    last = merge_offsets(last, await produce(env, [as_record(o) for o in objects[:100]]))
    await wait_until_applied(env, last)
    assert await totals(env) == (500, 100, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_broker_restarted_under_a_running_worker(env: StackEnv) -> None:
    """The embedded broker keeps nothing across a restart. What holds: events already applied
    stay in PostgreSQL, and the running worker recovers without manual steps - the topic is
    created again (as `up` and producers do), its stale checkpoints are reset, and new events
    are applied exactly once."""
    from streams.topics import ensure_lifecycle_topics

    if env.stack is None or env.stack.broker is None:
        pytest.skip("Tansu only: Apache Kafka keeps topics across a restart (test_cluster_faults)")
    before = fleet(assets=100, events_per_asset=5, seed=55)
    worker = env.worker()
    last = await produce(env, [as_record(o) for o in before])
    await wait_until_applied(env, last)

    await asyncio.to_thread(env.stack.broker.restart)
    await ensure_lifecycle_topics(env.settings)
    after = fleet(assets=60, events_per_asset=5, seed=56)
    for o in after:  # other assets than before
        o["asset_id"] = "after-" + o["asset_id"]
    await produce(env, [as_record(o) for o in after])
    await wait_for_totals(env, 800, timeout_s=180)
    assert await totals(env) == (800, 0, 0)
    await assert_projection_is_fold_of(env, before + after)
    assert worker.process is not None and worker.process.poll() is None, "worker kept running"


async def test_worker_killed_during_a_rebalance(env: StackEnv) -> None:
    """A second worker joins (the group rebalances; Tansu holds JoinGroup for half the 10 s
    session) and the first is SIGKILLed in the middle of it, while events keep coming."""
    objects = fleet(assets=300, events_per_asset=15, seed=57)
    first = env.worker("first")
    last = await produce(env, [as_record(o) for o in objects[:1500]])
    await wait_for_totals(env, 500)

    async def trickle() -> dict[int, int]:
        seen: dict[int, int] = {}
        rest = objects[1500:]
        for i in range(0, len(rest), 300):  # ten chunks over about five seconds
            seen = merge_offsets(
                seen, await produce(env, [as_record(o) for o in rest[i : i + 300]])
            )
            await asyncio.sleep(0.5)
        return seen

    producing = asyncio.create_task(trickle())
    env.worker("second")
    await asyncio.sleep(2.5)  # the rebalance is under way
    first.kill()
    last = merge_offsets(last, await producing)
    await wait_until_applied(env, last, timeout_s=180)
    applied, _, dead = await totals(env)
    assert (applied, dead) == (4500, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_unexpected_writer_error_stops_the_worker_and_skips_nothing(env: StackEnv) -> None:
    """An error escaping the writer used to stop only the agent: Faust restarted it where the
    consumer stood, past a batch acknowledged but never written, and the next batch moved the
    checkpoint over it. Now the worker process stops; its successor resumes at the checkpoint."""
    objects = fleet(assets=200, events_per_asset=10, seed=58)
    last = await produce(env, [as_record(o) for o in objects])
    doomed = env.worker("doomed", {"KRETSLOPP_FAULT": "writer:3:raise"})
    code = await _wait_dead(doomed, seconds=120)
    assert code == WRITER_FAILED_EXIT_CODE, doomed.log()[-2000:]
    assert "batch writer failed; exiting" in doomed.log()
    applied_at_death, _, _ = await totals(env)
    assert applied_at_death < 2000
    env.worker("next")
    await wait_until_applied(env, last)
    assert await totals(env) == (2000, 0, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects)


async def test_sigterm_ends_the_worker_even_with_a_thread_that_never_ends(env: StackEnv) -> None:
    """A worker told to stop (SIGTERM: scale-in, a deploy) exits, cleanly and soon, even when
    a library thread is stuck - as Faust's consumer thread was, in a rebalance, on Apache
    Kafka (test_cluster_faults.py::test_scale_out_to_three_workers_and_back_to_one). Before,
    the interpreter waited for that thread for ever."""
    objects = fleet(assets=50, events_per_asset=4, seed=59)
    last = await produce(env, [as_record(o) for o in objects])
    worker = env.worker("stuck", {"KRETSLOPP_FAULT": "worker_started:1:hang"})
    await wait_until_applied(env, last)
    assert worker.terminate(timeout_s=30) == 0, worker.log()[-2000:]
    assert await totals(env) == (200, 0, 0)
    await assert_projection_is_fold_of(env, objects)


async def test_sigterm_ends_the_worker_even_when_faust_cannot_stop(env: StackEnv) -> None:
    """Faust's own stop can wait for ever (seen on Apache Kafka: a consumer thread call that
    never returned during a rebalance). A deadline ends the process anyway, and the next
    worker counts nothing twice."""
    from streams.app import SHUTDOWN_DEADLINE_S

    objects = fleet(assets=50, events_per_asset=4, seed=60)
    last = await produce(env, [as_record(o) for o in objects])
    worker = env.worker("wedged", {"KRETSLOPP_FAULT": "worker_stopping:1:wedge"})
    await wait_until_applied(env, last)
    started = asyncio.get_running_loop().time()
    code = await asyncio.to_thread(worker.terminate, SHUTDOWN_DEADLINE_S + 15)
    took = asyncio.get_running_loop().time() - started
    assert code == 0 and SHUTDOWN_DEADLINE_S <= took < SHUTDOWN_DEADLINE_S + 15
    assert "did not stop in time" in worker.log()
    more = fleet(assets=20, events_per_asset=3, seed=61)
    for o in more:
        o["asset_id"] = "more-" + o["asset_id"]
    last = merge_offsets(last, await produce(env, [as_record(o) for o in more]))
    env.worker("next")
    await wait_until_applied(env, last)
    assert await totals(env) == (260, 0, 0)
    await _assert_checkpoints_exact(env, last)
    await assert_projection_is_fold_of(env, objects + more)


async def test_a_worker_asked_for_its_stacks_dumps_them_and_goes_on(env: StackEnv) -> None:
    """SIGUSR1 (docs/operations.md, "A worker or a producer that stopped moving"): every
    thread's stack and asyncio task into the worker's log, and the worker keeps applying what
    follows."""
    first = fleet(assets=50, events_per_asset=4, seed=57)
    last = await produce(env, [as_record(o) for o in first])
    worker = env.worker()
    await wait_until_applied(env, last)
    dump = await asyncio.to_thread(worker.stacks)
    assert "THREAD MainThread" in dump and "TASKS" in dump, dump[-2000:]
    assert dump.count("TASKS") >= 2, dump[-4000:]  # the main loop's and the consumer thread's
    assert "getmany" in dump or "fetch" in dump.lower(), dump[-4000:]
    assert "asset-0" not in dump and "tenant-0" not in dump  # code locations, no data
    more = fleet(assets=50, events_per_asset=4, seed=58)
    last = merge_offsets(last, await produce(env, [as_record(o) for o in more]))
    await wait_until_applied(env, last)
    assert await totals(env) == (len(first) + len(more), 0, 0)
