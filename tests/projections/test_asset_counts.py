"""For any histories, arrival orders, batchings and duplicates, asset counts kept batch by batch
(the new state's count minus the old one's) equal a count of the folded states; and each
asset is counted exactly once, under its status, category and UTC month of purchase."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.codec import EVENT_ADAPTER
from events.models import LifecycleEvent
from projections import asset_counts
from projections.asset_counts import CountKey, Counts, count_of, epoch_us
from projections.asset_state import AssetState, Status, fold, fold_all
from tests.factories import event_dict
from tests.projections.test_kpis_incremental import event_streams, writer_batches


def incremental(stream: list[LifecycleEvent], batch_sizes: list[int]) -> Counts:
    """What the writer does, without the database: each batch moves its assets' counts."""
    total: Counts = {}
    for moved in writer_batches(stream, batch_sizes):
        old = [o for o, _ in moved if o is not None]
        asset_counts.add_into(total, asset_counts.delta(old, [n for _, n in moved]))
    return asset_counts.without_zeros(total)


@given(event_streams(), st.lists(st.integers(1, 6), max_size=30))
def test_counts_kept_batch_by_batch_equal_a_count_of_the_states(
    stream: list[LifecycleEvent], batch_sizes: list[int]
) -> None:
    distinct = list({str(e.event_id): e for e in stream}.values())
    states = fold_all(distinct).values()
    expected = asset_counts.one_pass(states)
    assert incremental(stream, batch_sizes) == expected
    assert sum(devices for devices, _ in expected.values()) == len(states)
    for state in states:  # under its own key, once
        key, _ = count_of(state)
        assert key.status == (state.status.value if state.status else "")
        assert key.category == (state.category or "")
        assert expected[key][0] >= 1


@given(event_streams())
def test_the_purchase_sum_is_the_sum_of_the_devices_purchase_instants(
    stream: list[LifecycleEvent],
) -> None:
    states = list(fold_all(stream).values())
    counts = asset_counts.one_pass(states)
    for key, (devices, purchased_us) in counts.items():
        mine = [s for s in states if count_of(s)[0] == key]
        assert devices == len(mine)
        assert purchased_us == sum(epoch_us(s.purchased_at) for s in mine if s.purchased_at)


def test_a_repair_moves_no_count_and_a_take_back_moves_one_device() -> None:
    bought = EVENT_ADAPTER.validate_python(
        event_dict("purchased", tenant="t", asset="a", at=datetime(2024, 3, 31, 23, 30, tzinfo=UTC))
    )
    repaired = EVENT_ADAPTER.validate_python(
        event_dict("repaired", tenant="t", asset="a", at=datetime(2025, 1, 2, tzinfo=UTC))
    )
    taken = EVENT_ADAPTER.validate_python(
        event_dict(
            "taken_back",
            tenant="t",
            asset="a",
            at=datetime(2026, 1, 2, tzinfo=UTC),
            channel="resale",
        )
    )
    first = fold([bought])
    second = fold([repaired], first)
    third = fold([taken], second)
    assert first is not None and second is not None and third is not None
    assert asset_counts.delta([first], [second]) == {}
    at = epoch_us(datetime(2024, 3, 31, 23, 30, tzinfo=UTC))
    assert asset_counts.delta([second], [third]) == {
        CountKey("t", "laptop", "in_use", date(2024, 3, 1)): (-1, -at),
        CountKey("t", "laptop", "taken_back", date(2024, 3, 1)): (1, at),
    }


def test_the_month_is_the_utc_month_and_microseconds_are_exact() -> None:
    # 00:30 on 1 April in Stockholm is still March in UTC
    stockholm = timezone(timedelta(hours=2))
    moment = datetime(2024, 4, 1, 0, 30, 0, 123457, tzinfo=stockholm)
    state = AssetState("t", "a", status=Status.IN_USE, purchased_at=moment)
    key, us = count_of(state)
    assert key.purchase_month == date(2024, 3, 1)
    assert us == 1711924200_123457  # 2024-03-31T22:30:00.123457Z
    far = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert epoch_us(far) == 253402300799_999999  # a float would round this


def test_an_asset_without_purchase_is_counted_without_a_month() -> None:
    repaired = EVENT_ADAPTER.validate_python(
        event_dict("repaired", tenant="t", asset="x", at=datetime(2025, 1, 2, tzinfo=UTC))
    )
    state = fold([repaired])
    assert state is not None
    assert asset_counts.one_pass([state]) == {CountKey("t", "", "in_use", None): (1, 0)}


def _naive_delta(old: list[AssetState], new: list[AssetState]) -> Counts:
    """The definition: every old state's count out, every new state's in."""
    counts: Counts = {}
    for sign, states in ((-1, old), (1, new)):
        for s in states:
            key, us = count_of(s)
            devices, total = counts.get(key, (0, 0))
            counts[key] = (devices + sign, total + sign * us)
    return asset_counts.without_zeros(counts)


@given(event_streams(), st.lists(st.integers(0, 40), max_size=12), st.randoms())
def test_delta_is_every_old_count_out_and_every_new_one_in_whatever_the_lists(
    stream: list[LifecycleEvent], picks: list[int], rnd: Any
) -> None:
    """Same asset twice on a side, an asset on one side only, states of other assets: the
    shortcut for an asset whose count did not move never changes the sum."""
    states: list[AssetState] = []
    for e in stream:  # every intermediate state, so old and new of one asset differ or not
        before = [s for s in states if (s.tenant_id, s.asset_id) == (e.tenant_id, e.asset_id)]
        states.append(fold([e], before[-1] if before else None))  # type: ignore[arg-type]
    if not states:
        return
    old = [states[i % len(states)] for i in picks]
    new = [rnd.choice(states) for _ in picks[: len(picks) // 2 + 1]]
    assert asset_counts.delta(old, new) == _naive_delta(old, new)
