"""The writer's memory answers only for the very row version it remembered."""

from __future__ import annotations

from projections.asset_state import AssetState
from projections.kpi_facts import Facts
from projections.state_cache import RowVersion, StateCache

KEY = ("t", "a")


def _state(events: int) -> AssetState:
    return AssetState(tenant_id="t", asset_id="a", event_count=events)


def test_a_remembered_state_answers_only_for_its_row_version() -> None:
    cache = StateCache()
    state = _state(1)
    cache.remember(KEY, RowVersion(100, 1, "e1"), state)
    entry = cache.state(KEY, RowVersion(100, 1, "e1"))
    assert entry is not None and entry.state is state
    # another transaction wrote the row (another worker, a rebuild): forgotten, not answered
    assert cache.state(KEY, RowVersion(101, 1, "e1")) is None
    assert cache.state(KEY, RowVersion(100, 1, "e1")) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_same_xmin_with_another_history_is_not_the_same_row() -> None:
    """xmin is 32 bits and wraps; the event count and last event id must agree too."""
    cache = StateCache()
    cache.remember(KEY, RowVersion(7, 3, "e3"), _state(3))
    assert cache.state(KEY, RowVersion(7, 4, "e3")) is None
    cache.remember(KEY, RowVersion(7, 3, "e3"), _state(3))
    assert cache.state(KEY, RowVersion(7, 3, "e4")) is None


def test_facts_are_reused_only_for_the_same_state_object_and_basis() -> None:
    cache = StateCache()
    state = _state(1)
    facts = Facts({}, [])
    cache.remember(KEY, RowVersion(1, 1, "e"), state, facts, (0, "src", "v1"))
    assert cache.facts(KEY, state, (0, "src", "v1")) is facts
    assert cache.facts(KEY, state, (1, "src", "v1")) is None  # a settings version later
    assert cache.facts(KEY, state, (0, "other", "v1")) is None  # another factor table
    assert cache.facts(KEY, _state(1), (0, "src", "v1")) is None  # an equal, other state
    cache.remember(KEY, RowVersion(1, 1, "e"), state)  # remembered without facts
    assert cache.facts(KEY, state, (0, "src", "v1")) is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = StateCache(capacity=2)
    for name in ("a", "b"):
        cache.remember(("t", name), RowVersion(1, 1, name), _state(1))
    assert cache.state(("t", "a"), RowVersion(1, 1, "a")) is not None  # a is now the newest
    cache.remember(("t", "c"), RowVersion(1, 1, "c"), _state(1))
    assert len(cache) == 2
    assert cache.state(("t", "b"), RowVersion(1, 1, "b")) is None
    assert cache.state(("t", "a"), RowVersion(1, 1, "a")) is not None
    assert StateCache(capacity=0).state(KEY, RowVersion(1, 1, "e")) is None
