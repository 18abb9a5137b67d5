"""The KPI aggregates kept by the real writer in PostgreSQL equal a one-pass recomputation,
for random histories with late, out-of-order and duplicate events in random batches."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.codec import encode
from events.models import Category, LifecycleEvent
from projections.asset_state import fold_all
from projections.batch import SourceRecord, prepare
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.kpi_facts import one_pass
from projections.postgres.connection import Connection
from projections.postgres.kpi_store import recompute, store_tenant_settings
from projections.postgres.writer import apply_batch
from projections.tenant_settings import TenantSettings
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, fetch_all, write_directly
from tests.integration.invariants import assert_kpis_are_one_pass, stored_kpis, stored_kpis_of
from tests.projections.test_kpis_incremental import event_streams


async def _apply(conn: Connection, stream: list[LifecycleEvent], sizes: list[int]) -> None:
    records = [SourceRecord(0, i, None, encode(e)) for i, e in enumerate(stream)]
    position = 0
    it = iter(sizes)
    while position < len(records):
        size = next(it, 3)
        await apply_batch(conn, "g", "t", prepare(records[position : position + size]))
        position += size


async def test_incremental_kpis_in_postgres_equal_one_pass(env: StackEnv, conn: Connection) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(event_streams(), st.lists(st.integers(1, 5), max_size=20))
    def check(stream: list[LifecycleEvent], sizes: list[int]) -> None:
        loop_result.append((stream, sizes))

    loop_result: list[tuple[list[LifecycleEvent], list[int]]] = []
    check()  # hypothesis draws the examples; each is then replayed against PostgreSQL
    for stream, sizes in loop_result:
        tx = conn.transaction()
        await tx.start()
        try:
            await _apply(conn, stream, sizes)
            distinct = list({str(e.event_id): e for e in stream}.values())
            expected = one_pass(
                fold_all(distinct).values(), {}, BOAVIZTA_PCF_MEDIAN, TenantSettings()
            )
            got = await stored_kpis_of(conn)
            assert got == expected
        finally:
            await tx.rollback()


async def test_tenant_settings_change_recomputes_that_tenants_kpis(
    env: StackEnv, conn: Connection
) -> None:
    from events.codec import EVENT_ADAPTER
    from tests.factories import fleet

    stream = [EVENT_ADAPTER.validate_python(o) for o in fleet(40, 6, seed=8)]
    await _apply(conn, stream, [50] * 10)
    await assert_kpis_are_one_pass(env.dsn)
    before = await stored_kpis(env.dsn)
    assets = await store_tenant_settings(
        conn,
        "tenant-0",
        TenantSettings(baseline_years={Category.LAPTOP: 2.0}, displacement_rate=0.5),
        BOAVIZTA_PCF_MEDIAN,
    )
    assert assets == 20
    after = await stored_kpis(env.dsn)
    assert after != before
    assert {k: v for k, v in after.items() if k.tenant_id == "tenant-1"} == {
        k: v for k, v in before.items() if k.tenant_id == "tenant-1"
    }
    await assert_kpis_are_one_pass(env.dsn)
    # more events after the change are maintained with the new settings
    more = [EVENT_ADAPTER.validate_python(o) for o in fleet(10, 4, seed=99)]
    records = [
        SourceRecord(1, i, None, orjson.dumps(e.model_dump(mode="json")))
        for i, e in enumerate(more)
    ]
    await apply_batch(conn, "g", "t", prepare(records))
    await assert_kpis_are_one_pass(env.dsn)
    async with conn.transaction():
        await recompute(conn, BOAVIZTA_PCF_MEDIAN)
    await assert_kpis_are_one_pass(env.dsn)


async def test_a_refused_change_notice_never_fails_the_batch(
    env: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_notify can fail (a payload over 8,000 bytes here; a notification queue filled by a
    stalled listener in life). The batch must still apply its events, not dead-letter them."""
    from projections.postgres import changes

    monkeypatch.setattr(changes, "MAX_PAYLOAD", 10**6)  # one notice PostgreSQL will refuse
    objects = [
        event_dict("purchased", tenant=f"tenant-{i:03d}-" + "x" * 100, asset="pc-1")
        for i in range(120)
    ]
    await write_directly(env, objects)
    rows = await fetch_all(env.dsn, "SELECT count(*) AS n FROM event_log")
    assert rows[0]["n"] == 120
    dead = await fetch_all(env.dsn, "SELECT count(*) AS n FROM dead_letters")
    assert dead[0]["n"] == 0


async def test_a_reused_event_id_with_other_content_is_a_dead_letter_not_a_duplicate(
    env: StackEnv, conn: Connection
) -> None:
    """Issue #11's follow-up: a second event under an accepted event id was counted as a
    duplicate and its facts were lost without a word. Now the same fact again is a duplicate;
    other facts, or another asset or tenant, under the id are a dead letter that names why (and
    never describes the other tenant's event); the first copy stands."""
    first = event_dict("purchased", tenant="t1", asset="a", weight_kg=1.5)
    again = dict(first)
    corrected = {**first, "payload": {**first["payload"], "weight_kg": 2.5}}
    other_tenant = {**first, "tenant_id": "t2"}
    moved = {**first, "occurred_at": "2021-06-01T00:00:00+00:00"}

    one = await apply_batch(conn, "g", "t", prepare(_records([first, corrected], 0)))
    assert (one.applied, one.duplicates, one.dead_letters) == (1, 0, 1)  # in one batch
    two = await apply_batch(conn, "g", "t", prepare(_records([again, other_tenant, moved], 2)))
    assert (two.applied, two.duplicates, two.dead_letters) == (0, 1, 2)
    letters = await fetch_all(
        env.dsn, "SELECT kafka_offset, reason_kind, field, reason FROM dead_letters ORDER BY 1"
    )
    assert [(r["kafka_offset"], r["reason_kind"], r["field"]) for r in letters] == [
        (1, "conflicting_duplicate", "event_id"),
        (3, "conflicting_duplicate", "event_id"),
        (4, "conflicting_duplicate", "event_id"),
    ]
    assert "another payload" in letters[0]["reason"]
    assert "another occurred_at" in letters[2]["reason"]
    assert "already names another event" in letters[1]["reason"]
    assert "payload" not in letters[1]["reason"] and "t1" not in letters[1]["reason"]
    [stored] = await fetch_all(env.dsn, "SELECT tenant_id, payload FROM event_log")
    assert (stored["tenant_id"], stored["payload"]["weight_kg"]) == ("t1", 1.5)
    [checkpoint] = await fetch_all(
        env.dsn, "SELECT events_applied, duplicates_skipped, dead_letters FROM checkpoints"
    )
    assert tuple(checkpoint) == (1, 1, 3)  # every record counted once, in one place
    await assert_kpis_are_one_pass(env.dsn)


async def test_unknown_events_below_the_checkpoint_go_in_offset_order_with_the_fresh_ones(
    env: StackEnv, conn: Connection
) -> None:
    """A recreated topic reuses offsets, so records below the checkpoint can be events the log
    has never seen: they are applied, and merged back into offset order with the fresh ones
    before the first copy of each id is chosen. Here the copy at offset 3 (below the
    checkpoint) comes before the copy at offset 6 (fresh) with other content: 3 stands and 6
    is the dead letter, not the other way round."""
    old = [event_dict("purchased", asset=f"old-{i}") for i in range(5)]
    first = await apply_batch(conn, "g", "t", prepare(_records(old, 0)))
    assert first.applied == 5  # the checkpoint is now 5
    reused = event_dict("purchased", asset="r", weight_kg=1.0)
    other_copy = {**reused, "payload": {**reused["payload"], "weight_kg": 9.0}}
    recreated = [
        event_dict("purchased", asset="n-2"),  # offset 2, unknown
        reused,  # offset 3, unknown
        old[4],  # offset 4: redelivered, known
        event_dict("purchased", asset="n-5"),  # offset 5, fresh
        other_copy,  # offset 6, fresh, the id of offset 3 with other content
    ]
    outcome = await apply_batch(conn, "g", "t", prepare(_records(recreated, 2)))
    assert (outcome.applied, outcome.dead_letters, outcome.below_checkpoint) == (3, 1, 1)
    [stored] = await fetch_all(
        env.dsn,
        "SELECT kafka_offset, payload FROM event_log WHERE event_id = $1::uuid",
        reused["event_id"],
    )
    assert (stored["kafka_offset"], stored["payload"]["weight_kg"]) == (3, 1.0)
    letters = await fetch_all(env.dsn, "SELECT kafka_offset, reason_kind FROM dead_letters")
    assert [tuple(r) for r in letters] == [(6, "conflicting_duplicate")]
    await assert_kpis_are_one_pass(env.dsn)


def _records(objects: list[dict[str, object]], start: int) -> list[SourceRecord]:
    return [SourceRecord(0, start + i, None, orjson.dumps(o)) for i, o in enumerate(objects)]
