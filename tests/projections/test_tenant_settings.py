"""Settings versions: which version applies to a fact on a day, as known at a moment."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from events.models import Category
from projections.asset_state import fold
from projections.carbon import ADEME_NEGAOCTET, FactorTableVersion, table_known_before
from projections.kpi_facts import facts
from projections.tenant_settings import (
    DEFAULTS,
    SettingsTimeline,
    SettingsVersion,
    TenantSettings,
)
from tests.factories import event


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def laptop_n(years: float) -> TenantSettings:
    return TenantSettings(baseline_years={Category.LAPTOP: years})


V1 = SettingsVersion(1, laptop_n(3), None, utc("2026-01-10"), "cli")
V2 = SettingsVersion(2, laptop_n(5), date(2026, 3, 1), utc("2026-03-05"), "cli")
V3 = SettingsVersion(3, laptop_n(6), date(2025, 1, 1), utc("2026-06-01"), "cli")


def test_the_newest_version_that_applies_on_the_day_wins() -> None:
    timeline = SettingsTimeline.of([V3, V1, V2])  # any order in, version order kept
    assert timeline.version == 3
    assert timeline.at(date(2024, 6, 1)).baseline("laptop") == 3  # only V1 applies
    assert timeline.at(date(2025, 6, 1)).baseline("laptop") == 6  # V3 from 2025
    assert timeline.at(utc("2026-04-01")).baseline("laptop") == 6  # V3 recorded after V2
    assert SettingsTimeline.of([V1, V2]).at(date(2026, 2, 28)).baseline("laptop") == 3
    assert SettingsTimeline.of([V1, V2]).at(date(2026, 3, 1)).baseline("laptop") == 5


def test_before_any_version_applies_the_defaults_do() -> None:
    only_dated = SettingsTimeline.of([V2])
    assert only_dated.at(date(2026, 2, 1)) is DEFAULTS
    assert only_dated.version_on(date(2026, 2, 1)).version == 0
    assert SettingsTimeline().at(date(2026, 2, 1)) is DEFAULTS


def test_the_day_is_the_utc_day_of_the_instant() -> None:
    timeline = SettingsTimeline.of([V1, V2])
    late_evening = datetime.fromisoformat("2026-02-28T23:30:00-02:00")  # 1 March in UTC
    assert timeline.at(late_evening).baseline("laptop") == 5


def test_known_before_a_moment_drops_later_versions() -> None:
    timeline = SettingsTimeline.of([V1, V2, V3])
    assert timeline.known_before(utc("2026-03-05")).version == 1  # V2 recorded at that moment
    assert timeline.known_before(utc("2026-03-06")).version == 2
    assert timeline.known_before(utc("2026-01-01")).version == 0
    assert timeline.known_before(None) is timeline


def test_versions_applied_in_a_year_cover_every_day_once() -> None:
    pieces = SettingsTimeline.of([V1, V2]).in_year(2026)
    assert [(p["from"], p["to"], p["version"]) for p in pieces] == [
        ("2026-01-01", "2026-02-28", 1),
        ("2026-03-01", "2026-12-31", 2),
    ]
    # V3 (from 2025, recorded later) overrides V2 on every day: one piece
    assert [p["version"] for p in SettingsTimeline.of([V1, V2, V3]).in_year(2026)] == [3]
    assert [p["version"] for p in SettingsTimeline().in_year(2026)] == [0]


@given(
    st.lists(
        st.tuples(st.integers(2, 9), st.one_of(st.none(), st.integers(0, 400))),
        max_size=6,
    ),
    st.integers(0, 420),
)
def test_a_day_gets_the_settings_of_the_piece_that_covers_it(
    raw: list[tuple[int, int | None]], offset: int
) -> None:
    start = date(2025, 1, 1)
    versions = [
        SettingsVersion(
            i + 1,
            laptop_n(n),
            None if day is None else date.fromordinal(start.toordinal() + day),
        )
        for i, (n, day) in enumerate(raw)
    ]
    timeline = SettingsTimeline.of(versions)
    pieces = timeline.in_year(2025)
    assert pieces[0]["from"] == "2025-01-01" and pieces[-1]["to"] == "2025-12-31"
    for a, b in itertools.pairwise(pieces):
        assert (
            date.fromisoformat(b["from"]).toordinal() == date.fromisoformat(a["to"]).toordinal() + 1
        )
        assert a["version"] != b["version"]
    day = date.fromordinal(start.toordinal() + offset)
    if day.year == 2025:
        piece = next(p for p in pieces if p["from"] <= day.isoformat() <= p["to"])
        assert piece["version"] == timeline.version_on(day).version


def test_each_fact_uses_the_settings_of_its_own_day() -> None:
    """A dated baseline change moves the longer-life saving of a device that ended after the
    date, and leaves one that ended before it as it was."""
    timeline = SettingsTimeline.of([V1, V2])

    def saving(end: str) -> float:
        state = fold(
            [
                event("purchased", asset="a", at=utc("2021-01-01")),
                event("recycled", asset="a", at=utc(end)),
            ]
        )
        assert state is not None
        (row,) = facts(state, timeline, ADEME_NEGAOCTET).savings
        return float(row.parameters["baseline_years"])

    assert saving("2026-02-01") == 3  # before V2's date
    assert saving("2026-03-02") == 5


def test_a_single_from_the_start_version_equals_its_plain_settings() -> None:
    state = fold(
        [
            event("purchased", asset="a", at=utc("2021-01-01"), condition="refurbished"),
            event("taken_back", asset="a", at=utc("2025-01-01")),
            event("refurbished", asset="a", at=utc("2025-02-01")),
        ]
    )
    assert state is not None
    settings = TenantSettings(displacement_rate=0.3, baseline_years={Category.LAPTOP: 2.0})
    timeline = SettingsTimeline.of([SettingsVersion(1, settings)])
    assert facts(state, timeline, ADEME_NEGAOCTET) == facts(state, settings, ADEME_NEGAOCTET)


def test_the_factor_table_known_before_a_moment() -> None:
    first = FactorTableVersion(1, ADEME_NEGAOCTET, utc("2025-01-01"), "worker")
    second = FactorTableVersion(2, ADEME_NEGAOCTET, utc("2026-05-01"), "worker")
    assert table_known_before([second, first], utc("2026-01-01")) == first
    assert table_known_before([first, second], utc("2026-06-01")) == second
    assert table_known_before([first, second], None) == second
    assert table_known_before([first, second], utc("2020-01-01")) == first  # the first table
    assert table_known_before([], None) is None
