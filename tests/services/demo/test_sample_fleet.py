"""The sample history is valid, deterministic and as varied as the demo promises."""

from __future__ import annotations

from collections import Counter

from events.models import EVENT_TYPES
from projections.asset_state import Status, fold_all
from services.demo.sample_fleet import as_events, generate


def test_sample_is_deterministic_and_valid() -> None:
    first = generate(400, seed=1)
    assert first == generate(400, seed=1)
    assert first != generate(400, seed=2)
    events = as_events(first)
    assert len({e.event_id for e in events}) == len(events)


def test_sample_covers_every_event_type_and_state() -> None:
    events = as_events(generate(1500, seed=3))
    kinds = Counter(e.event_type for e in events)
    assert set(kinds) == set(EVENT_TYPES)
    states = fold_all(events)
    statuses = Counter(s.status for s in states.values())
    assert set(statuses) == set(Status)
    assert {t for t, _ in states} == {"goteborg-kommun", "nordvik-energi"}
    assert any(s.incomplete_history for s in states.values())
    conditions = Counter(s.condition for s in states.values())
    assert conditions["refurbished"] > 0 and conditions["new"] > conditions["refurbished"]
    assert sum(1 for s in states.values() if s.product_carbon_footprint_kg_co2e) > 0


def test_late_repairs_arrive_after_later_history() -> None:
    objects = generate(1500, seed=3)
    dates = [o["occurred_at"] for o in objects]
    assert dates != sorted(dates), "some events must arrive out of occurred_at order"
