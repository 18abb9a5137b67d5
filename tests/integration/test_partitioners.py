"""Two producers with different partitioners, several workers, late and duplicate events and a
settings change mid-stream: the projections still equal the pure fold (issue #11.1, #11.6).

aiokafka (our gateway, ``produce`` and ``import``) hashes a key with murmur2; librdkafka
(confluent-kafka, the client most ITSM integrations use) with CRC32 by default. So one asset's
events land on two partitions, owned by two workers. Correctness must not depend on the key.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.factories import as_record, event_dict, random_history
from tests.integration.conftest import (
    StackEnv,
    fetch_all,
    kretslopp,
    merge_offsets,
    produce,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of

confluent_kafka = pytest.importorskip(
    "confluent_kafka", reason="confluent-kafka (librdkafka) is a test dependency: pip install"
)


def produce_with_librdkafka(env: StackEnv, objects: list[dict[str, Any]]) -> dict[int, int]:
    """Produce with librdkafka's default partitioner (consistent_random: CRC32 of the key)."""
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": env.kafka, "acks": "all", "enable.idempotence": False}
    )
    last: dict[int, int] = {}
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

    for obj in objects:
        key, value = as_record(obj)
        producer.produce(env.settings.topic, value=value, key=key, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return last


def _minimal_case() -> tuple[dict[str, Any], dict[str, Any]]:
    bought = event_dict(
        "purchased",
        tenant="tenant-0",
        asset="the-laptop",
        at=datetime(2020, 1, 1, tzinfo=UTC),
        product_carbon_footprint_kg_co2e=251.0,
    )
    returned = event_dict(
        "taken_back", tenant="tenant-0", asset="the-laptop", at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    return bought, returned


@pytest.mark.parametrize(
    ("seed", "workers", "lanes"),
    [(1111, 3, 2), (2222, 3, 2), (3333, 3, 2), (4444, 1, 4)],
    ids=["3-workers-a", "3-workers-b", "3-workers-c", "1-worker-4-lanes"],
)
async def test_two_partitioners_several_writers_late_duplicates_and_settings_change(
    env: StackEnv, seed: int, workers: int, lanes: int
) -> None:
    """Workers, and the write lanes inside each (``streams.write_lanes``), write batches side
    by side: one asset's events on two partitions may be in two lanes of one worker."""
    rng = random.Random(seed)
    histories = [random_history(rng, f"tenant-{i % 2}", f"pc-{i:04d}", 6) for i in range(150)]
    via_librdkafka: list[dict[str, Any]] = []
    via_aiokafka: list[dict[str, Any]] = []
    for history in histories:
        for event in history:
            (via_librdkafka if rng.random() < 0.5 else via_aiokafka).append(event)
    rng.shuffle(via_aiokafka)  # late events: each asset's aiokafka half arrives in any order
    duplicates = rng.sample(via_librdkafka, 60)  # the same events again, other partitioner
    bought, returned = _minimal_case()

    running = [env.worker(f"w{i}", {"KRETSLOPP_WRITER_LANES": str(lanes)}) for i in range(workers)]
    await kretslopp(env, "tenant-settings", "tenant-1", "--baseline", "laptop=5")
    first = await asyncio.to_thread(
        produce_with_librdkafka, env, [bought, *via_librdkafka[: len(via_librdkafka) // 2]]
    )
    last = merge_offsets(first, await produce(env, [as_record(o) for o in via_aiokafka[:300]]))
    # tenant-0 gets its first settings row while events stream in
    settings_change = asyncio.create_task(
        kretslopp(env, "tenant-settings", "tenant-0", "--baseline", "laptop=3")
    )
    more = await asyncio.to_thread(
        produce_with_librdkafka, env, via_librdkafka[len(via_librdkafka) // 2 :] + duplicates
    )
    last = merge_offsets(last, more)
    last = merge_offsets(
        last, await produce(env, [as_record(o) for o in [*via_aiokafka[300:], returned]])
    )
    changed = await settings_change
    assert changed.returncode == 0, changed.stderr
    await wait_until_applied(env, last, timeout_s=180)
    assert all(w.process is not None and w.process.poll() is None for w in running)

    everything = [*via_librdkafka, *via_aiokafka, *duplicates, bought, returned]
    # the scenario really splits assets across partitions
    rows = await fetch_all(
        env.dsn,
        "SELECT count(*) AS n FROM (SELECT asset_id FROM event_log GROUP BY tenant_id, asset_id"
        " HAVING count(DISTINCT kafka_partition) > 1) split",
    )
    assert rows[0]["n"] > 50
    await assert_projection_is_fold_of(env, everything)

    laptop = await fetch_all(
        env.dsn,
        "SELECT status, event_count FROM asset_state WHERE asset_id = 'the-laptop'",
    )
    assert [(r["status"], r["event_count"]) for r in laptop] == [("taken_back", 2)]
    saving = await fetch_all(
        env.dsn,
        "SELECT saving_g, parameters FROM carbon_savings WHERE asset_id = 'the-laptop' "
        "AND method = 'longer_life'",
    )
    assert [r["saving_g"] for r in saving] == [83_667]  # 251 kg x (4.0 / 3 - 1)
    assert orjson.loads(orjson.dumps(saving[0]["parameters"]))["baseline_years"] == 3.0
