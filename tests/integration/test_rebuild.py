"""``kretslopp rebuild`` while the live worker keeps applying events."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from tests.factories import as_record, fleet
from tests.integration.conftest import (
    StackEnv,
    fetch_all,
    kretslopp,
    produce,
    wait_until_applied,
    write_directly,
)
from tests.integration.invariants import assert_projection_is_fold_of, stored_kpis


async def test_rebuild_equals_live_and_swaps_while_the_worker_runs(env: StackEnv) -> None:
    objects = fleet(assets=300, events_per_asset=12, seed=31)
    first, rest = objects[:2400], objects[2400:]
    env.worker()
    last = await produce(env, [as_record(o) for o in first])
    await wait_until_applied(env, last)
    live = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    live_kpis = await stored_kpis(env.dsn)  # all-zero rows left by subtraction ignored

    quiet = await kretslopp(env, "rebuild")
    assert quiet.returncode == 0, quiet.stderr
    assert "from 2400 event(s)" in quiet.stderr
    ignore = {"updated_at"}
    rebuilt = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    assert [{k: v for k, v in r.items() if k not in ignore} for r in rebuilt] == [
        {k: v for k, v in r.items() if k not in ignore} for r in live
    ]
    assert await stored_kpis(env.dsn) == live_kpis

    # now rebuild while more events stream in and the worker applies them
    producing = asyncio.create_task(produce(env, [as_record(o) for o in rest]))
    busy = await kretslopp(env, "rebuild")
    assert busy.returncode == 0, busy.stderr
    last_rest = await producing
    await wait_until_applied(env, {p: max(last.get(p, -1), o) for p, o in last_rest.items()})
    await assert_projection_is_fold_of(env, objects)


async def test_replay_into_a_fresh_database_equals_the_live_projections(env: StackEnv) -> None:
    import asyncpg

    from tests.integration.conftest import database_url

    objects = fleet(assets=100, events_per_asset=8, seed=41)
    env.worker()
    last = await produce(env, [as_record(o) for o in objects])
    await wait_until_applied(env, last)
    live = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")

    name = "t_replay_" + env.settings.consumer_group[-8:]
    admin = await asyncpg.connect(database_url(env.dsn, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    into_fresh = replace(env.settings, database_url=database_url(env.dsn, name))
    try:
        result = await kretslopp(env, "replay", "--group", "replay-check", settings=into_fresh)
        assert result.returncode == 0, result.stderr
        assert "800 applied, 0 duplicates, 0 dead letters" in result.stderr
        replayed = await fetch_all(
            database_url(env.dsn, name), "SELECT * FROM asset_state ORDER BY tenant_id, asset_id"
        )
        ignore = {"updated_at"}
        assert [{k: v for k, v in r.items() if k not in ignore} for r in replayed] == [
            {k: v for k, v in r.items() if k not in ignore} for r in live
        ]
    finally:
        admin = await asyncpg.connect(database_url(env.dsn, "postgres"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_rebuild_in_parts_equals_the_fold_whatever_the_parts(env: StackEnv) -> None:
    """Parts split the assets by ranges taken from the (possibly stale) asset states; an asset
    only the log knows still belongs to exactly one part. 1, 2, 3 and 7 parts on a log whose
    asset states hold a third of the assets: every time the fold of the log, KPIs one pass,
    and every event counted once."""
    from projections.carbon import BOAVIZTA_PCF_MEDIAN
    from projections.postgres.connection import connect
    from projections.postgres.rebuild import rebuild
    from tests.integration.conftest import write_directly
    from tests.integration.invariants import assert_kpis_are_one_pass

    objects = fleet(assets=90, events_per_asset=6, seed=53)
    await write_directly(env, objects)
    conn = await connect(env.dsn)
    try:
        # two thirds of the asset states gone: the log knows assets the ranges are not cut from
        await conn.execute("DELETE FROM asset_state WHERE abs(hashtext(asset_id)) % 3 > 0")
        for parts in (1, 2, 3, 7):
            result = await rebuild(env.dsn, BOAVIZTA_PCF_MEDIAN, parts=parts)
            assert (result.events, result.assets) == (len(objects), 90), parts
            await assert_projection_is_fold_of(env, objects)
            await assert_kpis_are_one_pass(env.dsn)
    finally:
        await conn.close()


async def test_a_stored_event_the_contract_refuses_stops_the_rebuild_named(env: StackEnv) -> None:
    """A row changed by hand (or a rule tightened since it was accepted): the rebuild says
    which event, asset and field in one line, and the live projection stays as it was."""
    objects = fleet(assets=30, events_per_asset=4, seed=5)
    await write_directly(env, objects)
    before = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    (bad,) = await fetch_all(
        env.dsn,
        "UPDATE event_log SET payload = jsonb_set(payload, '{supplier}', to_jsonb($1::text)) "
        "WHERE event_id = (SELECT event_id FROM event_log WHERE event_type = 'purchased' "
        "ORDER BY tenant_id, asset_id LIMIT 1) RETURNING event_id, asset_id",
        "At\x1b[2Jea",
    )
    for parts in ("1", "2"):
        done = await kretslopp(env, "rebuild", "--parts", parts)
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert str(bad["event_id"]) in last and repr(bad["asset_id"]) in last, last
        assert "payload.supplier: must not contain control characters" in last, last
        assert "Traceback" not in done.stderr and "\x1b" not in done.stderr
    after = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    assert after == before


PROJECTION_INDEXES = """
SELECT c.relname AS table_name, i.relname AS index_name,
       regexp_replace(pg_get_indexdef(x.indexrelid), '^.* USING ', '') AS definition,
       con.conname AS constraint_name
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid
WHERE c.relname IN ('asset_state', 'kpi_monthly', 'carbon_savings', 'asset_counts')
ORDER BY 1, 2
"""


async def test_a_rebuild_keeps_the_index_names_the_migrations_gave(env: StackEnv) -> None:
    """A later migration drops or replaces an index by its name (0004 and 0013 did). A rebuild
    that left its fresh tables' own index names behind made such a migration miss the index:
    it stayed, under another name, costing every write. After a rebuild (1 and 2 parts) and a
    second one, every projection index has the name and definition it had, and the primary
    keys their constraint names."""
    from projections.carbon import BOAVIZTA_PCF_MEDIAN
    from projections.postgres.rebuild import rebuild

    objects = fleet(assets=40, events_per_asset=5, seed=61)
    await write_directly(env, objects)
    migrated = [dict(r) for r in await fetch_all(env.dsn, PROJECTION_INDEXES)]
    assert {r["index_name"] for r in migrated} >= {
        "asset_state_pkey",
        "asset_state_in_use_purchase_idx",
        "kpi_monthly_pkey",
        "asset_counts_key",
    }
    for parts in (1, 2):
        await rebuild(env.dsn, BOAVIZTA_PCF_MEDIAN, parts=parts)
        assert [dict(r) for r in await fetch_all(env.dsn, PROJECTION_INDEXES)] == migrated
        await assert_projection_is_fold_of(env, objects)


async def test_an_index_a_migration_adds_during_the_rebuild_stops_the_swap(
    env: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fresh tables copy the live indexes before the swap. An index made on a live table
    after that (a migration of a worker starting meanwhile) would be dropped with the replaced
    table while its migration stays recorded: the rebuild stops instead, swaps nothing, and
    the next rebuild keeps the index."""
    from projections.carbon import BOAVIZTA_PCF_MEDIAN
    from projections.postgres import rebuild as rebuilding
    from projections.postgres.connection import connect

    objects = fleet(assets=20, events_per_asset=4, seed=67)
    await write_directly(env, objects)
    before = await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id")
    build = rebuilding._index_fresh

    async def build_then_migrate(*args: Any) -> None:
        await build(*args)
        other = await connect(env.dsn)
        try:
            await other.execute("CREATE INDEX asset_state_supplier_idx ON asset_state (supplier)")
        finally:
            await other.close()

    monkeypatch.setattr(rebuilding, "_index_fresh", build_then_migrate)
    with pytest.raises(rebuilding.IndexesChanged, match="nothing was swapped"):
        await rebuilding.rebuild(env.dsn, BOAVIZTA_PCF_MEDIAN, parts=1)
    monkeypatch.undo()
    assert await fetch_all(env.dsn, "SELECT * FROM asset_state ORDER BY tenant_id, asset_id") == (
        before
    )
    await rebuilding.rebuild(env.dsn, BOAVIZTA_PCF_MEDIAN, parts=1)
    names = {r["index_name"] for r in await fetch_all(env.dsn, PROJECTION_INDEXES)}
    assert "asset_state_supplier_idx" in names
    await assert_projection_is_fold_of(env, objects)


async def test_a_history_split_between_two_fetches_is_folded_whole(env: StackEnv) -> None:
    """A part fetches the log 5,000 rows at a time; the asset whose events straddle row 5,000
    is one history, folded once: its state, the KPIs and the event count equal the fold of
    the log (a history cut at the fetch would count the asset twice, each half a state)."""
    from projections.carbon import BOAVIZTA_PCF_MEDIAN
    from projections.postgres.rebuild import rebuild
    from tests.integration.invariants import assert_kpis_are_one_pass

    objects = fleet(assets=800, events_per_asset=7, seed=71)  # 5,000 is no multiple of 7
    assert len(objects) > 5000
    await write_directly(env, objects)
    straddling = await fetch_all(
        env.dsn,
        "SELECT tenant_id, asset_id FROM event_log ORDER BY tenant_id, asset_id "
        "OFFSET 4999 LIMIT 2",
    )
    assert tuple(straddling[0]) == tuple(straddling[1])  # the fetch boundary cuts a history
    result = await rebuild(env.dsn, BOAVIZTA_PCF_MEDIAN, parts=1)
    assert (result.events, result.assets) == (len(objects), 800)
    await assert_projection_is_fold_of(env, objects)
    await assert_kpis_are_one_pass(env.dsn)
