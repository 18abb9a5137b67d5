"""Kaplan-Meier survival: a hand-computed case, and lifelines (the reference implementation,
a test-only dependency) on random censored data."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.survival import Z_95, Observation, kaplan_meier

# 6 devices: ended at 1, 3, 3 and 5 years; still in use (censored) at 2 and 4 years
SMALL = [
    Observation(1, True),
    Observation(2, False),
    Observation(3, True),
    Observation(3, True),
    Observation(4, False),
    Observation(5, True),
]


def log_log_band(s: float, v: float) -> tuple[float, float]:
    spread = Z_95 * math.sqrt(v) / math.log(s)
    return (
        math.exp(-math.exp(math.log(-math.log(s)) - spread)),
        math.exp(-math.exp(math.log(-math.log(s)) + spread)),
    )


def test_hand_computed_small_case() -> None:
    curve = kaplan_meier(SMALL)
    assert (curve.observations, curve.ended, curve.censored) == (6, 4, 2)
    # t=1: 6 at risk, 1 ends: 5/6. t=3: 4 at risk (3, 3, 4, 5), 2 end: 5/6 x 2/4. t=5: 1, 1: 0
    assert [(s.years, s.at_risk, s.ended) for s in curve.steps] == [(1, 6, 1), (3, 4, 2), (5, 1, 1)]
    assert [s.survival for s in curve.steps] == pytest.approx([5 / 6, 5 / 12, 0.0])
    # Greenwood sums: 1/(6x5) at t=1, + 2/(4x2) at t=3
    lower, upper = log_log_band(5 / 6, 1 / 30)
    assert (curve.steps[0].ci_lower, curve.steps[0].ci_upper) == pytest.approx((lower, upper))
    lower, upper = log_log_band(5 / 12, 1 / 30 + 1 / 4)
    assert (curve.steps[1].ci_lower, curve.steps[1].ci_upper) == pytest.approx((lower, upper))
    assert lower < 5 / 12 < upper
    assert (curve.steps[2].ci_lower, curve.steps[2].ci_upper) == (0.0, 0.0)
    assert curve.median_years == 3
    assert [curve.at_risk(t) for t in range(7)] == [6, 6, 5, 4, 2, 1, 0]
    # the share whose life lasts at least 4 years: S just before 4 = 5/12
    summary = curve.summary(target_years=4.0)
    assert summary["reached_target_share"] == round(5 / 12, 6)
    assert [row["at_risk"] for row in summary["by_year"]] == [6, 6, 5, 4, 2, 1]
    assert summary["by_year"][2]["survival"] == round(5 / 6, 6)  # S(2-): one ended, at 1


def test_no_devices_and_no_ends() -> None:
    empty = kaplan_meier([])
    assert (empty.median_years, empty.summary(4.0)["reached_target_share"]) == (None, None)
    assert empty.summary(4.0)["by_year"] == []
    in_use = kaplan_meier([Observation(2.5, False), Observation(1.0, False)])
    assert in_use.steps == ()
    assert in_use.median_years is None  # not reached
    assert in_use.at(3.0) == (1.0, 1.0, 1.0)


observations = st.lists(
    st.tuples(st.integers(0, 600).map(lambda d: d / 50), st.booleans()),
    min_size=1,
    max_size=60,
)


@given(observations)
def test_equals_lifelines_on_random_censored_data(raw: list[tuple[float, bool]]) -> None:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    curve = kaplan_meier(Observation(years, ended) for years, ended in raw)
    fitter = KaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit([y for y, _ in raw], [e for _, e in raw])
    reference = fitter.survival_function_.iloc[:, 0]
    bands = fitter.confidence_interval_
    for step in curve.steps:
        assert step.survival == pytest.approx(reference.loc[step.years], abs=1e-9)
        assert step.ci_lower == pytest.approx(bands.iloc[:, 0].loc[step.years], abs=1e-9)
        assert step.ci_upper == pytest.approx(bands.iloc[:, 1].loc[step.years], abs=1e-9)
    for t in (0.0, 1.0, 2.5, 4.0, 20.0):
        assert curve.at(t)[0] == pytest.approx(
            float(fitter.survival_function_at_times(t).iloc[0]), abs=1e-9
        )
        assert curve.at_risk(t) == sum(1 for y, _ in raw if y >= t)

    # the median: exact arithmetic decides where S meets 0.5 exactly (floats may not)
    exact, s = None, Fraction(1)
    for step in curve.steps:
        s *= Fraction(step.at_risk - step.ended, step.at_risk)
        if s <= Fraction(1, 2):
            exact = step.years
            break
    assert curve.median_years == exact
    near_half = any(abs(step.survival - 0.5) < 1e-9 for step in curve.steps)
    if not near_half:
        expected = fitter.median_survival_time_
        assert curve.median_years == (None if math.isinf(expected) else expected)
        low, high = median_survival_times(bands).iloc[0]
        ours = curve.median_ci_years
        assert ours[0] == (None if math.isinf(low) else low)
        assert ours[1] == (None if math.isinf(high) else high)
