"""Any record, of any content or size, ends applied or dead-lettered; the checkpoint never
passes a record that is neither (issue #11.2).

The projector is driven directly on real PostgreSQL with generated hostile records mixed into
good ones (hypothesis), and the reported case runs end to end on a real worker and broker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.batch import DeadLetter, SourceRecord
from projections.postgres.connection import connect
from projections.postgres.migrate import migrate
from streams.dead_letter_topic import MAX_TOPIC_RECORD_BYTES, topic_record
from streams.projector import Projector
from tests.factories import as_record, event_dict, fleet
from tests.integration.conftest import (
    StackEnv,
    fetch_all,
    produce,
    totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of

CONTROL = "".join(chr(c) for c in range(32)) + "\x7f"


def _event_with(field: str, value: Any) -> bytes:
    obj = event_dict("repaired", asset="neighbour")
    obj["payload"][field] = value
    return orjson.dumps(obj)


hostile_values = st.one_of(
    st.binary(max_size=300),  # random bytes, mostly invalid UTF-8 and not JSON
    st.binary(max_size=50).map(lambda b: b"\xff\xfe\x00" + b),  # invalid UTF-8 for sure
    st.text(alphabet=CONTROL + "ab[/]<>", min_size=1, max_size=8).map(
        lambda name: _event_with(name, 1)  # control characters and markup in a field name
    ),
    st.text(max_size=20).map(lambda t: _event_with("parts", [t])),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # deep JSON
    st.sampled_from(
        [
            b"",
            b"null",
            b'{"event_id": "\\u0000"}',
            _event_with("\x00", "nul in a field name"),
            orjson.dumps({**event_dict("purchased"), "occurred_at": "0001-01-01T00:00:00Z"}),
            orjson.dumps({**event_dict("purchased"), "occurred_at": "9999-12-31T23:00:00-05:00"}),
            orjson.dumps({**event_dict("purchased"), "tenant_id": "a\x00b"}),
            b"x" * 70_000,  # over the event size limit
        ]
    ),
)
hostile_records = st.tuples(st.one_of(st.none(), st.binary(max_size=64)), hostile_values)


async def test_generated_hostile_records_end_applied_or_dead_lettered(env: StackEnv) -> None:
    drawn: list[list[tuple[bytes | None, bytes]]] = []

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(hostile_records, min_size=1, max_size=8))
    def draw(records: list[tuple[bytes | None, bytes]]) -> None:
        drawn.append(records)

    draw()
    published: list[DeadLetter] = []

    async def publish(letters: list[DeadLetter]) -> None:
        for letter in letters:  # what the worker would send to the dead-letter topic
            key, value, headers = topic_record(letter, "t")
            size = len(key or b"") + len(value) + sum(len(k) + len(v) for k, v in headers)
            assert size <= MAX_TOPIC_RECORD_BYTES
        published.extend(letters)

    projector = Projector(replace(env.settings, topic="t", consumer_group="g"), publish)
    good = fleet(assets=40, events_per_asset=3, seed=77)
    offset = 0
    expected_good: list[dict[str, Any]] = []
    try:
        for example, bad in enumerate(drawn):
            records: list[SourceRecord] = []
            goods = good[example * 4 : example * 4 + 4]
            expected_good += goods
            mixed = [as_record(o) for o in goods[:2]] + bad + [as_record(o) for o in goods[2:]]
            for key, value in mixed:
                records.append(SourceRecord(example % 3, offset, key, value))
                offset += 1
            await projector.handle(records)
    finally:
        await projector.stop()

    applied = {
        (r["kafka_partition"], r["kafka_offset"])
        for r in await fetch_all(env.dsn, "SELECT kafka_partition, kafka_offset FROM event_log")
    }
    dead = {
        (r["kafka_partition"], r["kafka_offset"])
        for r in await fetch_all(env.dsn, "SELECT kafka_partition, kafka_offset FROM dead_letters")
    }
    everything = {(i % 3, o) for i in range(len(drawn)) for o in range(offset)}
    seen = applied | dead
    # every offset written in some example's partition is accounted for
    written = set()
    offset = 0
    for example, bad in enumerate(drawn):
        for _ in range(4 + len(bad)):
            written.add((example % 3, offset))
            offset += 1
    assert written <= everything
    assert seen == written, f"lost: {sorted(written - seen)[:5]}"
    assert not applied & dead
    assert len(published) == len(dead)
    # the good events were applied whatever surrounded them (duplicates excepted)
    logged = {
        str(r["event_id"]) for r in await fetch_all(env.dsn, "SELECT event_id FROM event_log")
    }
    assert {o["event_id"] for o in expected_good} <= logged


async def test_nul_in_a_field_name_and_a_megabyte_record_lose_nothing_after_them(
    env: StackEnv,
) -> None:
    """The reported case: an extra field named with \\u0000 and a ~1,010,000-byte record sent
    straight to the topic, then 64 valid events. Before the fix none of the 64 reached the
    event log, none were dead-lettered, and the checkpoint moved past all of them."""
    nul_field = _event_with("bad\x00name", 1)
    huge = b'{"event_id": "' + b"x" * 1_010_000 + b'"}'
    valid = [event_dict("purchased", asset=f"after-{i}") for i in range(64)]
    env.worker()
    last = await produce(
        env,
        [(b"t\x00neighbour", nul_field), (b"t\x00neighbour", huge)] + [as_record(o) for o in valid],
        max_request_size=2_000_000,
    )
    await wait_until_applied(env, last)
    assert await totals(env) == (64, 0, 2)
    dead = await fetch_all(
        env.dsn,
        "SELECT reason_kind, field, record_value, record_size FROM dead_letters "
        "ORDER BY kafka_offset",
    )
    kinds = sorted(d["reason_kind"] for d in dead)
    assert kinds == ["too_large", "validation"]
    by_kind = {d["reason_kind"]: d for d in dead}
    assert bytes(by_kind["validation"]["record_value"]) == nul_field
    assert "\x00" not in by_kind["validation"]["field"]
    assert by_kind["too_large"]["record_size"] == len(huge)
    assert bytes(by_kind["too_large"]["record_value"]) == huge
    await assert_projection_is_fold_of(env, valid)
    assert env.workers[0].process is not None and env.workers[0].process.poll() is None
    conn = await connect(env.dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def test_a_late_event_whose_stored_history_the_contract_refuses_is_dead_lettered_alone(
    env: StackEnv,
) -> None:
    """The refold of an asset reads its stored history; a row changed by hand there makes
    that refold fail. The late event of that asset becomes a dead letter naming the stored
    event; the rest of the batch is applied, and the worker keeps going."""
    from datetime import timedelta

    from tests.factories import T0
    from tests.integration.conftest import write_directly

    history = [
        event_dict("purchased", tenant="t", asset="bad", at=T0),
        event_dict("repaired", tenant="t", asset="bad", at=T0 + timedelta(days=300)),
        event_dict("purchased", tenant="t", asset="good", at=T0),
    ]
    await write_directly(env, history, first_offset=10_000)
    (stored,) = await fetch_all(
        env.dsn,
        "UPDATE event_log SET payload = jsonb_set(payload, '{supplier}', '\"\"') "
        "WHERE asset_id = 'bad' AND event_type = 'purchased' RETURNING event_id",
    )
    late = event_dict("repaired", tenant="t", asset="bad", at=T0 + timedelta(days=100))
    fine = event_dict("repaired", tenant="t", asset="good", at=T0 + timedelta(days=100))
    env.worker()
    last = await produce(env, [as_record(late), as_record(fine)])
    await wait_until_applied(env, last)
    letters = await fetch_all(env.dsn, "SELECT reason_kind, reason, record_value FROM dead_letters")
    assert [(d["reason_kind"], orjson.loads(d["record_value"])) for d in letters] == [
        ("rejected_by_database", late)
    ]
    assert str(stored["event_id"]) in letters[0]["reason"]
    assert "payload.supplier: String should have at least 1 character" in letters[0]["reason"]
    (good,) = await fetch_all(
        env.dsn, "SELECT repair_count FROM asset_state WHERE asset_id = 'good'"
    )
    assert good["repair_count"] == 1
