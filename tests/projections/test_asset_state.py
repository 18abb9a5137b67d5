"""The pure lifecycle fold: examples from docs/methodology.md and properties over any history."""

from __future__ import annotations

import copy
import random
from datetime import UTC, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.codec import EVENT_ADAPTER
from events.models import LifecycleEvent
from projections.asset_state import (
    AnomalyKind,
    AssetState,
    Status,
    apply,
    event_key,
    fold,
    fold_all,
    needs_refold,
)
from tests.factories import T0, event, event_dict

# --- examples ----------------------------------------------------------------------------------


def test_purchase_starts_a_complete_in_use_history() -> None:
    state = fold(
        [
            event(
                "purchased", org_unit="skola", weight_kg=1.4, product_carbon_footprint_kg_co2e=251.0
            )
        ]
    )
    assert state is not None
    assert state.status is Status.IN_USE
    assert state.incomplete_history is False
    assert state.purchased_at == T0
    assert state.org_unit == "skola"
    assert state.product_carbon_footprint_kg_co2e == 251.0
    assert state.weight_kg == 1.4


def test_asset_first_seen_without_purchase_has_incomplete_history() -> None:
    state = fold([event("repaired")])
    assert state is not None
    assert state.incomplete_history is True
    assert state.status is Status.IN_USE
    assert state.purchased_at is None
    assert state.repair_count == 1


def test_late_purchase_fills_in_the_asset_but_history_stays_incomplete() -> None:
    repaired = event("repaired", at=T0 + timedelta(days=5))
    purchased = event("purchased", at=T0 + timedelta(days=10))
    state = fold([repaired, purchased])
    assert state is not None
    assert state.category == "laptop"
    assert state.incomplete_history is True  # something happened before the purchase


def test_full_life_take_back_then_refurbishment_outside() -> None:
    state = fold(
        [
            event("purchased", org_unit="a"),
            event("repaired", at=T0 + timedelta(days=100)),
            event("redeployed", at=T0 + timedelta(days=400), to_org_unit="b"),
            event("taken_back", at=T0 + timedelta(days=1461), channel="resale"),
            event(
                "refurbished", at=T0 + timedelta(days=1500), refurbishment_footprint_kg_co2e=18.0
            ),
        ]
    )
    assert state is not None
    assert state.status is Status.REFURBISHED
    assert state.ended_at == T0 + timedelta(days=1461)
    assert state.end_reason == "taken_back:resale"
    assert (state.repair_count, state.redeploy_count, state.refurbish_count) == (1, 1, 1)
    assert state.org_unit == "b"
    assert state.purchase_org_unit == "a"
    assert state.refurbishment_footprint_kg_co2e == 18.0
    assert state.anomaly_count == 0


def test_refurbishment_while_in_use_is_internal_and_keeps_it_in_use() -> None:
    state = fold([event("purchased"), event("refurbished", at=T0 + timedelta(days=700))])
    assert state is not None
    assert state.status is Status.IN_USE
    assert state.ended_at is None


def test_recycled_is_terminal_later_events_are_anomalies_not_applied() -> None:
    state = fold(
        [
            event("purchased"),
            event("recycled", at=T0 + timedelta(days=10), inside_eu_eea=False, weight_kg=2.0),
            event("redeployed", at=T0 + timedelta(days=20), to_org_unit="zzz"),
            event("taken_back", at=T0 + timedelta(days=30)),
        ]
    )
    assert state is not None
    assert state.status is Status.RECYCLED
    assert state.org_unit is None
    assert state.end_reason == "recycled"
    assert state.recycled_inside_eu_eea is False
    assert state.anomaly_count == 2
    assert [a.kind for a in state.anomalies] == [AnomalyKind.AFTER_RECYCLED] * 2
    assert state.event_count == 4


def test_in_use_events_after_take_back_are_anomalies() -> None:
    state = fold(
        [
            event("purchased"),
            event("taken_back", at=T0 + timedelta(days=10)),
            event("repaired", at=T0 + timedelta(days=20)),
        ]
    )
    assert state is not None
    assert state.status is Status.TAKEN_BACK
    assert state.repair_count == 0
    assert [a.kind for a in state.anomalies] == [AnomalyKind.AFTER_END_OF_USE]


def test_second_purchase_is_an_anomaly() -> None:
    state = fold(
        [event("purchased"), event("purchased", at=T0 + timedelta(days=1), supplier="Other")]
    )
    assert state is not None
    assert state.supplier == "Atea"
    assert [a.kind for a in state.anomalies] == [AnomalyKind.REPEATED_PURCHASE]


def test_end_of_use_is_the_first_take_back_or_recycling() -> None:
    state = fold(
        [
            event("purchased"),
            event("taken_back", at=T0 + timedelta(days=100), channel="recycling"),
            event("recycled", at=T0 + timedelta(days=160)),
        ]
    )
    assert state is not None
    assert state.ended_at == T0 + timedelta(days=100)
    assert state.end_reason == "taken_back:recycling"
    assert state.status is Status.RECYCLED


def test_only_certifications_valid_on_the_purchase_date_count() -> None:
    state = fold(
        [
            event(
                "purchased",
                at=T0,
                certifications=[
                    {"scheme": "tco_certified", "valid_until": "2019-12-31"},  # expired
                    {"scheme": "epeat", "valid_until": "2020-01-01"},  # last valid day
                    {"scheme": "energy_star"},  # no end date
                ],
            )
        ]
    )
    assert state is not None
    assert state.certifications == ("energy_star", "epeat")


def test_same_instant_events_follow_the_lifecycle_order() -> None:
    recycled = event("recycled", at=T0)
    purchased = event("purchased", at=T0)
    state = fold([recycled, purchased])
    assert state is not None
    assert state.incomplete_history is False
    assert state.status is Status.RECYCLED
    assert state.anomaly_count == 0


# --- properties --------------------------------------------------------------------------------

KINDS = ["purchased", "repaired", "redeployed", "taken_back", "refurbished", "recycled"]


@st.composite
def histories(draw: st.DrawFn, max_size: int = 12) -> list[LifecycleEvent]:
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(KINDS), st.integers(0, 2000), st.sampled_from(["u1", "u2"])),
            min_size=1,
            max_size=max_size,
        )
    )
    out = []
    for kind, day, unit in steps:
        payload: dict[str, Any] = {}
        if kind == "redeployed":
            payload["to_org_unit"] = unit
        if kind == "purchased":
            payload["org_unit"] = unit
        out.append(
            EVENT_ADAPTER.validate_python(event_dict(kind, at=T0 + timedelta(days=day), **payload))
        )
    return out


def _reference_status(events: list[LifecycleEvent]) -> Status:
    """An independent oracle: the status after the last event that is not an anomaly."""
    status: Status | None = None
    for e in sorted(events, key=event_key):
        if status is Status.RECYCLED:
            continue
        ended = status in (Status.TAKEN_BACK, Status.REFURBISHED)
        if e.event_type in ("repaired", "redeployed") and ended:
            continue
        status = {
            "purchased": status or Status.IN_USE,
            "repaired": Status.IN_USE,
            "redeployed": Status.IN_USE,
            "taken_back": Status.TAKEN_BACK,
            "refurbished": Status.REFURBISHED if ended or status is None else Status.IN_USE,
            "recycled": Status.RECYCLED,
        }[e.event_type]
    assert status is not None
    return status


@given(histories())
def test_any_history_folds_and_counts_every_event(events: list[LifecycleEvent]) -> None:
    state = fold(events)
    assert state is not None
    assert state.event_count == len(events)
    assert state.last_key == max(event_key(e) for e in events)
    assert state.status is _reference_status(events)
    assert state.incomplete_history == (min(events, key=event_key).event_type != "purchased")


@given(histories(), st.randoms(use_true_random=False))
def test_state_does_not_depend_on_arrival_order(
    events: list[LifecycleEvent], rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(events)


@given(histories(max_size=16), st.integers(0, 16))
def test_incremental_fold_equals_full_fold_when_new_events_sort_last(
    events: list[LifecycleEvent], cut: int
) -> None:
    ordered = sorted(events, key=event_key)
    head, tail = ordered[:cut], ordered[cut:]
    start = fold(head)
    assert not needs_refold(start, tail)
    assert fold(tail, start) == fold(ordered)


@given(histories(max_size=16), st.integers(0, 16))
def test_late_event_is_detected_for_refold(events: list[LifecycleEvent], cut: int) -> None:
    ordered = sorted(events, key=event_key)
    if cut >= len(ordered) or cut == 0:
        return
    late = ordered[cut - 1]
    rest = ordered[: cut - 1] + ordered[cut:]
    state = fold(rest)
    assert needs_refold(state, [late]) == (event_key(late) < max(event_key(e) for e in rest))


@given(
    st.lists(st.uuids(), min_size=2, max_size=8, unique=True),
    st.randoms(use_true_random=False),
)
def test_same_instant_same_type_events_go_in_the_order_of_their_ids_as_text(
    ids: list[Any], rnd: random.Random
) -> None:
    """The last tie-breaker is the event id as text (``event_key``, stored as
    ``last_event_id``); the fold sorts by the UUID itself, which is cheaper, so the two orders
    must agree for any ids: the redeployment whose id sorts last as text decides the org unit."""
    events = [
        EVENT_ADAPTER.validate_python(
            event_dict("redeployed", at=T0, event_id=str(u), to_org_unit=f"unit-{i}")
        )
        for i, u in enumerate(ids)
    ]
    rnd.shuffle(events)
    last = max(events, key=lambda e: str(e.event_id))
    state = fold(events)
    assert state is not None
    assert state.org_unit == last.payload.to_org_unit  # type: ignore[union-attr]
    assert state.last_key == event_key(last)
    assert state.redeploy_count == len(ids)


@given(histories())
def test_nothing_applies_after_recycling(events: list[LifecycleEvent]) -> None:
    ordered = sorted(events, key=event_key)
    state: AssetState | None = None
    recycled_seen = False
    for e in ordered:
        before = state
        state = apply(state, e)
        if recycled_seen:
            assert before is not None
            assert state.anomaly_count == before.anomaly_count + 1
            assert state.status is Status.RECYCLED
            assert state.org_unit == before.org_unit
            assert state.repair_count == before.repair_count
        recycled_seen = recycled_seen or state.status is Status.RECYCLED


def test_fold_all_groups_by_tenant_and_asset() -> None:
    events = [
        event("purchased", tenant="a", asset="1"),
        event("purchased", tenant="b", asset="1"),
        event("repaired", tenant="a", asset="1", at=T0 + timedelta(days=1)),
    ]
    states = fold_all(events)
    assert set(states) == {("a", "1"), ("b", "1")}
    assert states[("a", "1")].event_count == 2
    assert states[("b", "1")].event_count == 1


# --- decisions that must not depend on the code path (issue #11) ------------------------------


def test_certificate_is_checked_on_the_utc_date_of_the_purchase() -> None:
    """00:30 at +01:00 on 1 January is still 31 December in UTC: the live fold (offset kept)
    and a refold from the event log (UTC timestamptz) must agree, so the rule is the UTC date."""
    cert = [{"scheme": "tco_certified", "valid_until": "2022-12-31"}]
    local = EVENT_ADAPTER.validate_python(
        {**event_dict("purchased", certifications=cert), "occurred_at": "2023-01-01T00:30:00+01:00"}
    )
    as_logged = local.model_copy(update={"occurred_at": local.occurred_at.astimezone(UTC)})
    from_live, from_log = fold([local]), fold([as_logged])
    assert from_live is not None and from_log is not None
    assert from_live.certifications == from_log.certifications == ("tco_certified",)


def test_second_life_figures_come_from_the_first_refurbishment_after_take_back() -> None:
    history = [
        event("purchased", product_carbon_footprint_kg_co2e=260.0),
        event("taken_back", at=T0 + timedelta(days=1000)),
        event("refurbished", at=T0 + timedelta(days=1100), refurbishment_footprint_kg_co2e=20.0),
        event("refurbished", at=T0 + timedelta(days=1200)),  # a second pass, no figure
    ]
    state = fold(history)
    assert state is not None
    assert state.second_life_at == T0 + timedelta(days=1100)
    assert state.refurbishment_footprint_kg_co2e == 20.0
    assert state.refurbish_count == 2


def test_internal_refurbishment_does_not_lend_its_footprint_to_the_second_life() -> None:
    state = fold(
        [
            event("purchased"),
            event("refurbished", at=T0 + timedelta(days=300), refurbishment_footprint_kg_co2e=5.0),
            event("taken_back", at=T0 + timedelta(days=1000)),
            event("refurbished", at=T0 + timedelta(days=1100)),
        ]
    )
    assert state is not None
    assert state.second_life_at == T0 + timedelta(days=1100)
    assert state.refurbishment_footprint_kg_co2e is None  # the second life reported none


def _one_at_a_time(events: list[LifecycleEvent], state: AssetState | None = None) -> AssetState:
    """The reference: ``apply`` per event in canonical order, a new frozen state each time."""
    for e in sorted(events, key=event_key):
        state = apply(state, e)
    assert state is not None
    return state


@given(histories(max_size=16), st.integers(0, 16))
def test_fold_through_a_draft_equals_one_event_at_a_time(
    events: list[LifecycleEvent], cut: int
) -> None:
    ordered = sorted(events, key=event_key)
    start = _one_at_a_time(ordered[:cut]) if cut else None
    before = copy.copy(start)
    assert fold(events) == _one_at_a_time(events)
    assert fold(ordered[cut:], start) == (
        _one_at_a_time(ordered[cut:], start) if ordered[cut:] else start
    )
    # the starting state is the writer's cached one: folding into it in place would count a
    # retried batch's events twice
    assert start == before


def test_fold_equals_one_event_at_a_time_on_the_sample_fleet() -> None:
    """Marketplace offers, reservations, anomalies and second lives, as the demo produces."""
    from services.demo.sample_fleet import as_events, generate

    by_asset: dict[tuple[str, str], list[LifecycleEvent]] = {}
    for e in as_events(generate(400, seed=11, repairs_per_year=2.0, redeploys_per_year=0.6)):
        by_asset.setdefault((e.tenant_id, e.asset_id), []).append(e)
    assert sum(len(h) > 1 for h in by_asset.values()) > 300
    for history in by_asset.values():
        folded = fold(history)
        assert folded == _one_at_a_time(history)
        assert isinstance(folded, AssetState)
