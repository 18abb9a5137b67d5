"""The fleet overview and the status count, read from the asset counts, equal the same figures
counted device by device from the asset states: devices bought on either side of each
category's target-lifespan cutoff, ended, repaired and known only from a repair, arriving out
of order in many batches; another tenant's devices never count."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from events.models import Category
from projections import state_rows
from projections.asset_state import AssetState, Status
from projections.carbon import BOAVIZTA_DEFAULT_LIFE_YEARS, BOAVIZTA_PCF_MEDIAN
from projections.kpi_facts import SECONDS_PER_YEAR
from projections.postgres import reads
from projections.postgres.connection import Connection
from projections.postgres.kpi_store import store_tenant_settings
from projections.tenant_settings import TenantSettings
from tests.factories import event_dict
from tests.integration.conftest import StackEnv, fetch_all, write_directly
from tests.integration.invariants import assert_kpis_are_one_pass

NOW = datetime(2026, 6, 15, 12, 0, 0, 250_000, tzinfo=UTC)
SETTINGS = TenantSettings(target_lifespan_years={Category.LAPTOP: 5.0})


def cutoff(category: str) -> datetime:
    return NOW - timedelta(seconds=SETTINGS.target(category) * SECONDS_PER_YEAR)


def history(rng: random.Random) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for i in range(500):
        category = rng.choice([c.value for c in Category])
        if i % 2:  # within 40 days of the cutoff: its month is the boundary, or next to it
            bought = cutoff(category) + timedelta(seconds=rng.uniform(-40, 40) * 86400)
        else:
            bought = NOW - timedelta(seconds=rng.uniform(0.5, 3000) * 86400)
        asset = f"a{i}"
        objects.append(
            event_dict("purchased", tenant="f", asset=asset, at=bought, category=category)
        )
        later = bought + (NOW - bought) * rng.random()
        roll = rng.random()
        if roll < 0.2:
            objects.append(event_dict("taken_back", tenant="f", asset=asset, at=later))
        elif roll < 0.3:
            objects.append(event_dict("recycled", tenant="f", asset=asset, at=later))
        elif roll < 0.5:
            objects.append(event_dict("repaired", tenant="f", asset=asset, at=later))
    for i in range(7):  # in use, but no purchase known
        objects.append(
            event_dict("repaired", tenant="f", asset=f"r{i}", at=NOW - timedelta(days=3))
        )
    for i in range(30):
        objects.append(
            event_dict("purchased", tenant="other", asset=f"o{i}", at=NOW - timedelta(days=2000))
        )
    rng.shuffle(objects)  # ends before purchases: late events, refolds
    return objects


def counted(states: list[AssetState]) -> dict[str, dict[str, Any]]:
    """The fleet overview's figures per category, device by device (the definition)."""
    out: dict[str, dict[str, Any]] = {}
    for s in states:
        if s.status is not Status.IN_USE:
            continue
        c = out.setdefault(s.category or "", {"active": 0, "aged": 0, "age_s": 0.0, "past": 0})
        c["active"] += 1
        if s.purchased_at is not None:
            c["aged"] += 1
            c["age_s"] += (NOW - s.purchased_at).total_seconds()
            if s.category in BOAVIZTA_DEFAULT_LIFE_YEARS and s.purchased_at <= cutoff(s.category):
                c["past"] += 1
    return out


async def test_fleet_overview_and_status_counts_equal_a_count_of_the_devices(
    env: StackEnv, conn: Connection
) -> None:
    objects = history(random.Random(11))
    for first in range(0, len(objects), 37):
        if first == 37 * 10:  # a settings change recomputes the counts in between
            await store_tenant_settings(
                conn, "f", SETTINGS, BOAVIZTA_PCF_MEDIAN, effective_from=date(2000, 1, 1)
            )
        await write_directly(env, objects[first : first + 37], first_offset=first)
    states = [
        state_rows.from_row(r)
        for r in await fetch_all(env.dsn, "SELECT * FROM asset_state WHERE tenant_id = 'f'")
    ]
    expected = counted(states)
    past = sum(c["past"] for c in expected.values())
    assert 0 < past < sum(c["aged"] for c in expected.values())  # both sides of the cutoffs

    fleet = await reads.fleet_overview(conn, "f", NOW)

    assert fleet["active_assets"] == sum(c["active"] for c in expected.values())
    assert set(fleet["by_category"]) == set(expected)
    for category, want in expected.items():
        got = fleet["by_category"][category]
        assert got["active_assets"] == want["active"], category
        assert got["assets_with_known_age"] == want["aged"], category
        if want["aged"]:
            assert got["past_target_lifespan_share"] == want["past"] / want["aged"], category
            assert got["average_age_years"] == pytest.approx(
                want["age_s"] / want["aged"] / SECONDS_PER_YEAR, rel=1e-12
            )
    assert fleet["by_category"][""]["assets_with_known_age"] == 0
    assert await reads.assets_by_status(conn, "f") == Counter(
        s.status.value if s.status else "unknown" for s in states
    )
    await assert_kpis_are_one_pass(env.dsn)
