"""Two batch transactions at once on real PostgreSQL, as two workers of one group (or two write
lanes of one worker) run them.

Why this level: the partitioner decides which worker sees which event. aiokafka (murmur2) and
librdkafka (CRC32) place one key on different partitions, so one asset's events reach two
workers; a settings change can land while batches run. Whatever the interleaving, the result
must equal the pure fold of the distinct events and a one-pass KPI recomputation.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson

from projections.batch import SourceRecord, prepare
from projections.carbon import BOAVIZTA_PCF_MEDIAN
from projections.postgres.connection import connect
from projections.postgres.kpi_store import store_tenant_settings
from projections.postgres.migrate import migrate
from projections.postgres.writer import apply_batch
from projections.state_cache import StateCache
from projections.tenant_settings import TenantSettings
from streams.projector import Projector
from streams.write_lanes import WriteLanes
from tests.factories import T0, event_dict
from tests.integration.conftest import StackEnv, fetch_all
from tests.integration.invariants import assert_kpis_are_one_pass, assert_projection_is_fold_of


def _records(partition: int, objects: list[dict[str, Any]]) -> list[SourceRecord]:
    return [SourceRecord(partition, i, None, orjson.dumps(o)) for i, o in enumerate(objects)]


async def test_two_writers_with_one_asset_on_two_partitions_count_it_once(
    env: StackEnv,
) -> None:
    """Purchases on partition 0, take-backs of the same (new) assets on partition 1, written
    by two transactions at the same time: before the fix both folded from scratch, the later
    upsert won and both KPI deltas stayed."""
    produced: list[dict[str, Any]] = []
    conns = [await connect(env.dsn) for _ in range(2)]
    try:
        await migrate(conns[0])
        for round_ in range(20):
            purchases, take_backs = [], []
            for i in range(10):
                asset = f"a-{round_}-{i}"
                purchases.append(
                    event_dict(
                        "purchased", asset=asset, at=T0, product_carbon_footprint_kg_co2e=251.0
                    )
                )
                take_backs.append(
                    event_dict("taken_back", asset=asset, at=T0 + timedelta(days=1461))
                )
            produced += purchases + take_backs
            # offsets grow per round so neither checkpoint skips a later round
            first = [
                SourceRecord(0, round_ * 10 + r.offset, None, r.value)
                for r in _records(0, purchases)
            ]
            second = [
                SourceRecord(1, round_ * 10 + r.offset, None, r.value)
                for r in _records(1, take_backs)
            ]
            await asyncio.gather(
                apply_batch(conns[0], "g", "t", prepare(first)),
                apply_batch(conns[1], "g", "t", prepare(second)),
            )
    finally:
        for conn in conns:
            await conn.close()
    await assert_projection_is_fold_of(env, produced)


async def test_first_settings_change_while_batches_run_leaves_no_stale_kpi(
    env: StackEnv,
) -> None:
    """A tenant with no settings row yet: its first `tenant-settings` change and batches of
    take-backs commit at the same time. Batches that read the defaults while the first row was
    uncommitted were never recomputed. Triggers make the window wide every time: the settings
    transaction lingers after writing its row (the batch reads the settings then), and each
    KPI write lingers (the recomputation reads the asset states before the batch commits)."""
    conns = [await connect(env.dsn) for _ in range(2)]
    produced: list[dict[str, Any]] = []
    try:
        await migrate(conns[0])
        await conns[0].execute(
            "CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$; "
            "CREATE TRIGGER linger AFTER INSERT OR UPDATE ON tenant_settings "
            "FOR EACH ROW EXECUTE FUNCTION linger(); "
            "CREATE TRIGGER linger AFTER INSERT OR UPDATE ON kpi_monthly "
            "FOR EACH STATEMENT EXECUTE FUNCTION linger()"
        )
        bought = [
            event_dict("purchased", tenant="fresh", asset=f"pc-{i}", at=T0) for i in range(60)
        ]
        produced += bought
        await apply_batch(conns[0], "g", "t", prepare(_records(0, bought)))
        for round_ in range(6):
            take_backs = [
                event_dict(
                    "taken_back",
                    tenant="fresh",
                    asset=f"pc-{round_ * 10 + i}",
                    at=T0 + timedelta(days=1000),
                )
                for i in range(10)
            ]
            produced += take_backs
            records = [
                SourceRecord(1, round_ * 10 + r.offset, None, r.value)
                for r in _records(1, take_backs)
            ]
            settings = TenantSettings.model_validate({"baseline_years": {"laptop": 3 + round_}})
            change = asyncio.create_task(
                store_tenant_settings(conns[0], "fresh", settings, BOAVIZTA_PCF_MEDIAN)
            )
            await asyncio.sleep(0.1)  # the settings row is written, not yet committed
            await apply_batch(conns[1], "g", "t", prepare(records))
            await change
            await assert_kpis_are_one_pass(env.dsn)
    finally:
        for conn in conns:
            await conn.close()
    await assert_projection_is_fold_of(env, produced)


class _RolledBack(Exception):
    pass


async def test_a_writer_remembering_its_states_never_uses_a_stale_one(env: StackEnv) -> None:
    """The live writer remembers the states it wrote (projections.state_cache). Three ways a
    remembered state stops being the stored one, each followed by another event of the same
    assets: another writer wrote them, the remembering transaction rolled back, and a settings
    change moved the facts. Without the row-version check the first two counted the repair
    twice or lost the other writer's event; without the settings basis the KPIs drift from a
    one-pass recomputation."""
    conns = [await connect(env.dsn) for _ in range(2)]
    remembering, other = StateCache(), StateCache()
    produced: list[dict[str, Any]] = []
    offsets = {0: 0, 1: 0}

    async def write(writer: int, cache: StateCache, objects: list[dict[str, Any]]) -> None:
        records = []
        for o in objects:
            records.append(SourceRecord(writer, offsets[writer], None, orjson.dumps(o)))
            offsets[writer] += 1
        await apply_batch(conns[writer], "g", "t", prepare(records), cache=cache)

    def events(kind: str, days: int, **extra: Any) -> list[dict[str, Any]]:
        return [
            event_dict(kind, asset=f"pc-{i}", at=T0 + timedelta(days=days), **extra)
            for i in range(5)
        ]

    try:
        await migrate(conns[0])
        bought = events("purchased", 0, product_carbon_footprint_kg_co2e=251.0)
        produced += bought
        await write(0, remembering, bought)
        # 1. another writer moves the assets on
        repaired = events("repaired", 10)
        produced += repaired
        await write(1, other, repaired)
        again = events("repaired", 20)
        produced += again
        await write(0, remembering, again)
        await assert_projection_is_fold_of(env, produced)
        # 2. a batch of the remembering writer rolls back after its states were remembered
        try:
            async with conns[0].transaction():
                await write(0, remembering, events("repaired", 30))
                raise _RolledBack
        except _RolledBack:
            offsets[0] -= 5  # nothing of it was committed; Kafka redelivers other records
        redeployed = events("redeployed", 40, to_org_unit="it")
        produced += redeployed
        await write(0, remembering, redeployed)
        await assert_projection_is_fold_of(env, produced)
        assert remembering.hits > 0, "the remembered states were used where they were valid"
        # 3. the tenant's settings change: the remembered facts are on the old basis
        ended = events("taken_back", 1500)
        produced += ended
        await write(0, remembering, ended)
        settings = TenantSettings.model_validate({"baseline_years": {"laptop": 2.0}})
        await store_tenant_settings(conns[1], "tenant-a", settings, BOAVIZTA_PCF_MEDIAN)
        second_life = events("refurbished", 1530)
        produced += second_life
        await write(0, remembering, second_life)
        await assert_kpis_are_one_pass(env.dsn)
    finally:
        for conn in conns:
            await conn.close()
    await assert_projection_is_fold_of(env, produced)


ROUNDS, OTHERS = 12, 600


async def test_two_lanes_reusing_each_others_event_ids_keep_one_copy_of_each(
    env: StackEnv,
) -> None:
    """One worker's two write lanes (``streams.write_lanes`` over the projector, as
    ``streams.app`` runs them) get a batch each, on two partitions. The batches reuse each
    other's event ids with other content, on other assets and in the opposite order: lane 0
    inserts X, 600 other events, then Y; lane 1 inserts Y, 600 others, then X. No asset is
    shared, so the asset locks do not put the lanes in order; the event log's unique id does,
    and where each lane holds the id the other waits for, PostgreSQL aborts one as a deadlock
    and the projector retries it. Whatever the interleaving, in every round one partition's X
    and Y stand and the other's are ``conflicting_duplicate`` dead letters, every other event
    counts once, each checkpoint covers its batches, and the KPIs equal a one-pass
    recomputation."""
    admin = await connect(env.dsn)
    try:
        await migrate(admin)
        # a deadlock is found after deadlock_timeout (1 s by default): 20 ms keeps rounds short
        name = await admin.fetchval("SELECT current_database()")
        quoted = '"' + name.replace('"', '""') + '"'  # an identifier takes no parameter
        await admin.execute(f"ALTER DATABASE {quoted} SET deadlock_timeout = '20ms'")
        deadlocks_before = await admin.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name
        )
    finally:
        await admin.close()
    projector = Projector(replace(env.settings, topic="t", consumer_group="g", writer_lanes=2))
    produced: list[dict[str, Any]] = []
    reused: list[tuple[str, str]] = []  # (X, Y) of each round
    copies: list[dict[int, list[dict[str, Any]]]] = []  # each round's copies by partition
    offsets = {0: 0, 1: 0}

    def purchase(asset: str, kg: float, event_id: str | None = None) -> dict[str, Any]:
        return event_dict("purchased", asset=asset, event_id=event_id, weight_kg=kg)

    def batch(partition: int, objects: list[dict[str, Any]]) -> list[SourceRecord]:
        records = []
        for o in objects:
            records.append(SourceRecord(partition, offsets[partition], None, orjson.dumps(o)))
            offsets[partition] += 1
        return records

    try:
        async with WriteLanes(projector.handle, lanes=2) as lanes:
            for round_ in range(ROUNDS):
                x, y = str(uuid.uuid4()), str(uuid.uuid4())
                reused.append((x, y))
                shares = []
                copies.append({})
                for p in (0, 1):
                    first, last = (x, y) if p == 0 else (y, x)
                    kg = 1.0 + p  # the content that differs between the copies
                    others = [purchase(f"r{round_}-p{p}-{i}", kg) for i in range(OTHERS)]
                    produced += others
                    ends = [
                        purchase(f"r{round_}-p{p}-first", kg, first),
                        purchase(f"r{round_}-p{p}-last", kg, last),
                    ]
                    copies[-1][p] = ends
                    shares.append(batch(p, [ends[0], *others, ends[1]]))
                assert [lanes.lane_of(p) for p in (0, 1)] == [0, 1]
                await lanes.put(shares[0] + shares[1])  # one fetch, split between the lanes
                await lanes.drain()
    finally:
        await projector.stop()

    stored = {
        str(r["event_id"]): r
        for r in await fetch_all(
            env.dsn, "SELECT event_id, kafka_partition, kafka_offset, payload FROM event_log"
        )
    }
    letters = {
        (r["kafka_partition"], r["kafka_offset"]): r["reason_kind"]
        for r in await fetch_all(
            env.dsn, "SELECT kafka_partition, kafka_offset, reason_kind FROM dead_letters"
        )
    }
    expected_letters = {}
    for round_, (x, y) in enumerate(reused):
        winner = stored[x]["kafka_partition"]
        assert stored[y]["kafka_partition"] == winner, f"round {round_}: X and Y split"
        assert stored[x]["payload"]["weight_kg"] == stored[y]["payload"]["weight_kg"] == 1 + winner
        loser, start = 1 - winner, round_ * (OTHERS + 2)
        expected_letters[(loser, start)] = "conflicting_duplicate"
        expected_letters[(loser, start + OTHERS + 1)] = "conflicting_duplicate"
        produced += copies[round_][winner]  # the winning copies stand, on the winner's assets
    assert letters == expected_letters
    assert len(stored) == ROUNDS * (2 * OTHERS + 2), "each event once, each reused id once"
    checkpoints = await fetch_all(
        env.dsn,
        "SELECT kafka_partition, next_offset, events_applied + duplicates_skipped + dead_letters"
        " AS counted FROM checkpoints ORDER BY 1",
    )
    records = ROUNDS * (OTHERS + 2)  # per partition
    assert [tuple(r) for r in checkpoints] == [(0, records, records), (1, records, records)]
    await assert_projection_is_fold_of(env, produced)
    await assert_kpis_are_one_pass(env.dsn)
    # The retry was needed: 6-11 of the 12 rounds deadlocked in five runs here. A backend
    # reports its count when it exits (the projector's connections are closed by now).
    deadlocks = 0
    for _ in range(50):
        [row] = await fetch_all(
            env.dsn, "SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name
        )
        deadlocks = row["deadlocks"] - deadlocks_before
        if deadlocks:
            break
        await asyncio.sleep(0.1)
    assert deadlocks >= 1, "no round deadlocked: the lanes never raced for an id"
