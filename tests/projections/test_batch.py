"""Batch preparation: redelivered coordinates collapse, bad records become dead letters."""

from __future__ import annotations

import orjson

from projections.batch import SourceRecord, max_offsets, prepare
from tests.factories import event_dict


def _rec(partition: int, offset: int, value: bytes | None) -> SourceRecord:
    return SourceRecord(partition, offset, b"k", value)


def test_good_and_bad_records_are_separated_in_offset_order() -> None:
    good = orjson.dumps(event_dict("purchased"))
    bad_field = orjson.dumps({**event_dict("purchased"), "tenant_id": ""})
    batch = prepare([_rec(0, 3, good), _rec(0, 1, b"{nope"), _rec(0, 2, bad_field)])
    assert [d.record.offset for d in batch.events] == [3]
    assert [(d.record.offset, d.kind, d.field) for d in batch.dead_letters] == [
        (1, "not_json", ""),
        (2, "validation", "tenant_id"),
    ]
    assert batch.dead_letters[0].record.value == b"{nope"


def test_same_coordinates_twice_in_a_batch_are_kept_once() -> None:
    good = orjson.dumps(event_dict("purchased"))
    batch = prepare([_rec(1, 5, good), _rec(1, 5, good), _rec(2, 5, good)])
    assert [(d.record.partition, d.record.offset) for d in batch.events] == [(1, 5), (2, 5)]
    assert batch.redelivered == 1


def test_partitions_and_max_offsets_cover_events_and_dead_letters() -> None:
    good = orjson.dumps(event_dict("purchased"))
    batch = prepare([_rec(0, 7, good), _rec(0, 9, b"x"), _rec(3, 1, good)])
    assert batch.partitions == [0, 3]
    assert batch.max_offsets() == {0: 9, 3: 1}


def test_tombstone_is_a_dead_letter() -> None:
    batch = prepare([_rec(0, 0, None)])
    assert batch.dead_letters[0].kind == "not_json"
    assert "tombstone" in batch.dead_letters[0].reason


def test_the_same_fact_again_is_no_conflict_other_facts_are() -> None:
    from projections.batch import conflict
    from tests.factories import event, event_dict

    base = event_dict(
        "recycled", tenant="t", asset="a", event_id="1f0e4c77-0000-4000-8000-0000000000aa"
    )
    accepted = event("recycled", tenant="t", asset="a", event_id=base["event_id"])
    same_instant = {**base, "occurred_at": "2020-01-01T01:00:00+01:00", "source": "relay"}
    from events.codec import EVENT_ADAPTER

    assert conflict(accepted, EVENT_ADAPTER.validate_python(same_instant)) is None
    changed = EVENT_ADAPTER.validate_python(
        {**base, "payload": {**base["payload"], "inside_eu_eea": False}}
    )
    assert "another payload" in (conflict(accepted, changed) or "")
    retyped = EVENT_ADAPTER.validate_python(
        event_dict("repaired", tenant="t", asset="a", event_id=base["event_id"])
    )
    assert "another event_type" in (conflict(accepted, retyped) or "")
    elsewhere = EVENT_ADAPTER.validate_python({**base, "tenant_id": "tenant-b"})
    reason = conflict(accepted, elsewhere) or ""
    assert "already names another event" in reason
    assert "tenant" not in reason and "payload" not in reason  # nothing of the other event


def test_max_offsets_per_partition() -> None:
    records = [SourceRecord(p, o, None, b"") for p, o in [(1, 5), (0, 3), (1, 9), (1, 7)]]
    assert max_offsets(records) == {1: 9, 0: 3}
    assert max_offsets([]) == {}
