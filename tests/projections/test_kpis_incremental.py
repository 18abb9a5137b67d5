"""For any histories, arrival orders, batchings and duplicates, KPIs maintained incrementally
(contribution of the new state minus that of the old, batch by batch) equal the KPIs
recomputed in one pass from the distinct events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.codec import EVENT_ADAPTER
from events.models import Category, LifecycleEvent
from projections.asset_state import AssetState, fold, fold_all, needs_refold
from projections.carbon import ADEME_NEGAOCTET, BOAVIZTA_PCF_MEDIAN
from projections.kpi_facts import (
    FACT_INPUTS,
    Contribution,
    add_into,
    facts,
    one_pass,
    without_zeros,
)
from projections.tenant_settings import TenantSettings
from tests.factories import T0, event_dict, fleet

KINDS = ["purchased", "repaired", "redeployed", "taken_back", "refurbished", "recycled"]
SETTINGS = {
    "t1": TenantSettings(baseline_years={Category.LAPTOP: 3.0}, displacement_rate=0.7),
    "t2": TenantSettings(),
}


@st.composite
def event_streams(draw: st.DrawFn) -> list[LifecycleEvent]:
    """Events of several assets of two tenants, in a random arrival order, some twice."""
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["t1", "t2"]),
                st.integers(0, 4),
                st.sampled_from(KINDS),
                st.integers(0, 2000),
                st.sampled_from([None, 120.0, 300.0]),
                st.sampled_from(["new", "refurbished"]),
                st.sampled_from(["resale", "refurbishment", "recycling"]),
            ),
            min_size=1,
            max_size=25,
        )
    )
    events = []
    for tenant, asset, kind, day, pcf, condition, channel in steps:
        payload: dict[str, Any] = {}
        if kind == "purchased":
            payload = {
                "condition": condition,
                "org_unit": f"u{day % 3}",
                "certifications": [{"scheme": "epeat"}] if day % 2 else [],
            }
            if pcf is not None:
                payload["product_carbon_footprint_kg_co2e"] = pcf
        elif kind == "taken_back":
            payload = {"channel": channel}
        elif kind == "refurbished" and pcf is not None:
            payload = {"refurbishment_footprint_kg_co2e": pcf / 10}
        elif kind == "redeployed":
            payload = {"to_org_unit": f"u{day % 3}"}
        events.append(
            EVENT_ADAPTER.validate_python(
                event_dict(
                    kind, tenant=tenant, asset=f"a{asset}", at=T0 + timedelta(days=day), **payload
                )
            )
        )
    duplicates = draw(st.lists(st.sampled_from(events), max_size=5))
    stream = events + duplicates
    draw(st.randoms(use_true_random=False)).shuffle(stream)
    return stream


def writer_batches(
    stream: list[LifecycleEvent], batch_sizes: list[int]
) -> Iterator[list[tuple[AssetState | None, AssetState]]]:
    """What the writer does with each batch, without the database: for every asset the batch
    moved, its state before (None for a new asset) and after. A duplicate (by event_id) is
    skipped; a late event refolds the asset from its log."""
    seen: set[str] = set()
    log: dict[tuple[str, str], list[LifecycleEvent]] = {}
    states: dict[tuple[str, str], AssetState] = {}
    position = 0
    sizes = iter(batch_sizes)
    while position < len(stream):
        size = next(sizes, 1) or 1
        batch, position = stream[position : position + size], position + size
        new_events: dict[tuple[str, str], list[LifecycleEvent]] = {}
        for e in batch:
            if str(e.event_id) in seen:
                continue  # duplicate: recognised by event_id
            seen.add(str(e.event_id))
            key = (e.tenant_id, e.asset_id)
            log.setdefault(key, []).append(e)
            new_events.setdefault(key, []).append(e)
        moved = []
        for key, events in new_events.items():
            old = states.get(key)
            new = fold(log[key]) if needs_refold(old, events) else fold(events, old)
            assert new is not None
            states[key] = new
            moved.append((old, new))
        yield moved


def incremental(
    stream: list[LifecycleEvent],
    batch_sizes: list[int],
    table: Any,
    settings_of: dict[str, TenantSettings] = SETTINGS,
) -> Contribution:
    """What the writer does, without the database."""
    total: Contribution = {}
    for moved in writer_batches(stream, batch_sizes):
        for old, new in moved:
            settings = settings_of[new.tenant_id]
            if old is not None:
                add_into(total, facts(old, settings, table).aggregates, -1)
            add_into(total, facts(new, settings, table).aggregates, +1)
    return without_zeros(total)


@given(event_streams(), st.lists(st.integers(1, 6), max_size=30), st.booleans())
def test_incremental_kpis_equal_one_pass_recomputation(
    stream: list[LifecycleEvent], batch_sizes: list[int], ademe: bool
) -> None:
    table = ADEME_NEGAOCTET if ademe else BOAVIZTA_PCF_MEDIAN
    distinct = list({str(e.event_id): e for e in stream}.values())
    expected = one_pass(fold_all(distinct).values(), SETTINGS, table, TenantSettings())
    assert incremental(stream, batch_sizes, table) == expected


@given(event_streams(), event_streams(), st.booleans())
def test_facts_read_no_field_but_their_inputs(
    stream: list[LifecycleEvent], others: list[LifecycleEvent], ademe: bool
) -> None:
    """The writer keeps an asset's facts when no field of ``FACT_INPUTS`` moved; so every other
    field may take any value another state has without changing the facts."""
    table = ADEME_NEGAOCTET if ademe else BOAVIZTA_PCF_MEDIAN
    rest = [f.name for f in fields(AssetState) if f.name not in FACT_INPUTS]
    donors = list(fold_all(others).values())
    for state in fold_all(stream).values():
        settings = SETTINGS[state.tenant_id]
        for donor in donors:
            mixed = replace(state, **{name: getattr(donor, name) for name in rest})
            assert facts(mixed, settings, table) == facts(state, settings, table)


@given(event_streams())
def test_each_asset_counts_at_most_once_per_fact(stream: list[LifecycleEvent]) -> None:
    distinct = list({str(e.event_id): e for e in stream}.values())
    states = fold_all(distinct)
    total = one_pass(states.values(), SETTINGS, BOAVIZTA_PCF_MEDIAN, TenantSettings())
    sums: dict[str, int] = {}
    for measures in total.values():
        for name, value in measures.items():
            sums[name] = sums.get(name, 0) + value
    assert sums.get("purchases", 0) == sum(1 for s in states.values() if s.purchased_at)
    assert sums.get("ended", 0) == sum(1 for s in states.values() if s.ended_at)
    assert sums.get("ended", 0) == sums.get("ended_taken_back", 0) + sums.get("ended_recycled", 0)
    assert sums.get("taken_back", 0) >= sums.get("taken_back_second_life", 0)


def test_random_fleet_incremental_equals_one_pass() -> None:
    rng = random.Random(4)
    stream = [EVENT_ADAPTER.validate_python(o) for o in fleet(60, 8, seed=4)]
    rng.shuffle(stream)
    settings = {"tenant-0": TenantSettings(), "tenant-1": TenantSettings()}
    sizes = [rng.randint(1, 40) for _ in range(100)]
    got = incremental(stream, sizes, BOAVIZTA_PCF_MEDIAN, settings)
    expected = one_pass(fold_all(stream).values(), settings, BOAVIZTA_PCF_MEDIAN, TenantSettings())
    assert got == expected
    assert sum(m.get("purchases", 0) for m in got.values()) > 0
