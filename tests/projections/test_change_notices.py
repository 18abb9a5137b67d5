"""The change notice a batch sends on commit: split under PostgreSQL's payload limit, never
losing a tenant, and read back without ever raising on a foreign payload."""

from __future__ import annotations

from datetime import date

import orjson
from hypothesis import given
from hypothesis import strategies as st

from projections.postgres.changes import MAX_PAYLOAD, parse_payload, payloads


def test_tenants_and_months_round_trip() -> None:
    touched = {
        ("acme", date(2025, 3, 1)),
        ("acme", date(2025, 1, 1)),
        ("globex", date(2024, 12, 1)),
    }
    (payload,) = payloads(touched, {"acme": 3, "globex": 1, "initech": 2})
    assert parse_payload(payload) == {
        "acme": {"months": ["2025-01", "2025-03"], "applied": 3},
        "globex": {"months": ["2024-12"], "applied": 1},
        "initech": {"months": [], "applied": 2},  # applied events, no KPI row moved
    }


def test_many_tenants_are_split_under_the_limit_and_none_is_lost() -> None:
    tenants = [f"tenant-{i:04d}-" + "x" * 100 for i in range(400)]
    touched = {(t, date(2025, m, 1)) for t in tenants for m in range(1, 13)}
    out = payloads(touched, {t: 1 for t in tenants})
    assert len(out) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in out)
    merged: dict[str, object] = {}
    for p in out:
        merged.update(parse_payload(p))
    assert sorted(merged) == sorted(tenants)


def test_a_tenant_with_too_many_months_to_name_says_everything() -> None:
    touched = {("acme", date(1960 + y, m, 1)) for y in range(80) for m in range(1, 13)}
    (payload,) = payloads(touched, {"acme": 960})
    assert parse_payload(payload) == {"acme": {"months": None, "applied": 960}}
    assert len(payload) <= MAX_PAYLOAD


@given(st.text(max_size=300))
def test_any_payload_is_read_without_raising(text: str) -> None:
    parsed = parse_payload(text)
    assert all(isinstance(v, dict) for v in parsed.values())


def test_non_object_json_is_ignored() -> None:
    for text in ("[1,2]", "3", '"x"', orjson.dumps({"t": [1]}).decode()):
        assert parse_payload(text) == {}
