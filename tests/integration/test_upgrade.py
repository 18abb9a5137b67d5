"""A database of the previous release upgrades in place: states, settings and factor tables
stored before the migrations of this release (0010, 0011) read back and fold on correctly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events.codec import encode
from projections import state_rows
from projections.asset_state import fold
from projections.batch import SourceRecord, prepare
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.postgres import migrate as migrations
from projections.postgres.connection import connect
from projections.postgres.kpi_store import ensure_model, settings_timeline
from projections.postgres.writer import apply_batch
from tests.factories import T0, event
from tests.integration.conftest import StackEnv, fetch_all
from tests.integration.invariants import assert_kpis_are_one_pass


async def test_states_settings_and_the_factor_table_of_the_previous_release_upgrade(
    env: StackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken_back = [
        event("purchased", asset="a"),
        event("taken_back", asset="a", at=T0 + timedelta(days=900)),
    ]
    before = [m for m in migrations.available() if m.version < 10]
    conn = await connect(env.dsn)
    try:
        monkeypatch.setattr(migrations, "available", lambda: before)
        await migrations.migrate(conn)
        # what the previous release stored: a state whose last event (taken_back) had rank 3,
        # settings without versions, the factor table in kpi_model only
        state = fold(taken_back)
        assert state is not None
        row = {k: v for k, v in state_rows.to_row(state).items() if k != "offers"}
        row["last_event_rank"] = 3
        await conn.execute(
            f"INSERT INTO asset_state ({', '.join(row)}, updated_at) SELECT {', '.join(row)}, "
            "now() FROM jsonb_populate_recordset(NULL::asset_state, $1::jsonb)",
            [row],
        )
        for e in taken_back:
            await conn.execute(
                "INSERT INTO event_log (event_id, tenant_id, asset_id, event_type, "
                "schema_version, occurred_at, recorded_at, source, payload, topic, "
                "kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, 1, $5, now(), $6, "
                "$7::jsonb, 't', 0, 0)",
                e.event_id,
                e.tenant_id,
                e.asset_id,
                e.event_type,
                e.occurred_at,
                e.source,
                e.payload.model_dump(mode="json", exclude_none=True),
            )
        await conn.execute(
            "INSERT INTO tenant_settings (tenant_id, settings) VALUES ('tenant-a', $1::jsonb)",
            {"baseline_years": {"laptop": 3.0}},
        )
        await conn.execute(
            "INSERT INTO kpi_model (factor_source, factor_version) VALUES ($1, $2)",
            BOAVIZTA_PCF_MEDIAN.source,
            BOAVIZTA_PCF_MEDIAN.version,
        )
        monkeypatch.undo()
        applied = await migrations.migrate(conn)
        assert applied == [
            "0010_settings_and_factor_history.sql",
            "0011_reuse_marketplace.sql",
            "0012_write_row_types.sql",
            "0013_asset_counts.sql",
            "0014_projection_index_names.sql",
            "0015_marketplace_commands.sql",
        ]
        # the worker starts: the stored table becomes version 1 of the history, and the new
        # KPI definitions (facts version 3) recompute the aggregates and fill the asset counts
        assert await ensure_model(conn, BOAVIZTA_PCF_MEDIAN, "worker (test)")
        [factor] = await fetch_all(env.dsn, "SELECT version, recorded_by FROM factor_table_history")
        assert tuple(factor) == (1, "in use before factor tables were versioned")
        timeline = await settings_timeline(conn, "tenant-a")
        assert (timeline.version, timeline.latest.effective_from) == (1, None)
        assert timeline.at(T0).baseline("laptop") == 3.0

        [stored] = await fetch_all(env.dsn, "SELECT last_event_rank FROM asset_state")
        assert stored["last_event_rank"] == 30  # taken_back's rank in this release
        # a refurbishment at the take-back's very instant sorts after it: folded on top; a
        # repair at that instant sorts before it: the asset is refolded from the log
        same_instant = T0 + timedelta(days=900)
        late = [
            event("refurbished", asset="a", at=same_instant),
            event("repaired", asset="a", at=same_instant),
        ]
        records = [SourceRecord(0, i, None, encode(e)) for i, e in enumerate(late)]
        outcome = await apply_batch(conn, "g", "t", prepare(records))
        assert (outcome.applied, outcome.refolded_assets) == (2, 1)
    finally:
        await conn.close()
    [final] = await fetch_all(env.dsn, "SELECT * FROM asset_state")
    expected = fold([*taken_back, *late])
    assert expected is not None
    assert state_rows.comparable(state_rows.from_row(final)) == state_rows.comparable(expected)
    await assert_kpis_are_one_pass(env.dsn)


async def test_index_names_an_earlier_rebuild_left_are_put_back(env: StackEnv) -> None:
    """A database an earlier release rebuilt: its projection tables carry PostgreSQL's
    generated names (``asset_state_rebuild_pkey``) and an index 0013 meant to drop
    (``asset_state_fleet_idx``, made before 0013 and renamed by the rebuild). Migration 0014
    gives every index its migration's name and definition back and drops the stale one; an
    index an operator added is kept."""
    from tests.integration.test_rebuild import PROJECTION_INDEXES

    conn = await connect(env.dsn)
    try:
        await migrations.migrate(conn)
        expected = [dict(r) for r in await fetch_all(env.dsn, PROJECTION_INDEXES)]
        # the database as the old rebuild left it, at 0013
        await conn.execute("DELETE FROM schema_migrations WHERE version = 14")
        for table in ("asset_state", "kpi_monthly", "carbon_savings"):
            await conn.execute(
                f"ALTER TABLE {table} RENAME CONSTRAINT {table}_pkey TO {table}_rebuild_pkey"
            )
        for name, generated in [
            ("asset_state_in_use_purchase_idx", "asset_state_rebuild_tenant_id_category_pur_idx"),
            ("asset_state_offers_idx", "asset_state_rebuild_tenant_id_idx"),
            ("asset_counts_key", "asset_counts_rebuild_tenant_id_category_status_coal_idx"),
            ("carbon_savings_month_idx", "carbon_savings_rebuild_tenant_id_month_idx"),
        ]:
            await conn.execute(f"ALTER INDEX {name} RENAME TO {generated}")
        await conn.execute(
            "CREATE INDEX asset_state_rebuild_tenant_id_status_idx "
            "ON asset_state (tenant_id, status) INCLUDE (category, purchased_at)"
        )
        await conn.execute("CREATE INDEX reports_rebuild_helper_idx ON asset_state (supplier)")
        assert await migrations.migrate(conn) == ["0014_projection_index_names.sql"]
        await conn.execute("DROP INDEX reports_rebuild_helper_idx")  # fails if it was dropped
    finally:
        await conn.close()
    assert [dict(r) for r in await fetch_all(env.dsn, PROJECTION_INDEXES)] == expected
