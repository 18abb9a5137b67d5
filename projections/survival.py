"""Lifespan survival curves: the Kaplan-Meier estimator over devices, in use ones censored. Pure.

The mean lifespan of devices whose use ended is biased low: the long-lived devices are the ones
still in use, so they are missing from it. Reliability engineering's answer (Kaplan and Meier,
1958) counts a device still in use as *censored*: it survived at least until now, and it leaves
the risk set there without counting as an end (``docs/methodology.md``, "Lifespan survival").

At each time t_i (years from purchase) at which d_i devices ended out of n_i still at risk
(in use, not censored before t_i)::

    S(t)   = prod_{t_i <= t} (1 - d_i / n_i)
    Var    = S(t)^2 * sum_{t_i <= t} d_i / (n_i (n_i - d_i))          (Greenwood, 1926)
    95 % CI: the exponential Greenwood ("log-log") interval, which stays inside [0, 1]:
            S^exp(+-z sqrt(V) / log S),  V = sum d_i / (n_i (n_i - d_i)),  z = 1.95996

A term with n_i = d_i (every device at risk ended) adds nothing to V, as in lifelines, the
reference implementation the tests compare with. The median survival time is the first t_i
with S <= 0.5 (None while S stays above: "not reached"); its 95 % CI is where the CI bands
cross 0.5 (Brookmeyer and Crowley's construction on the log-log bands).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.kpi_facts import SECONDS_PER_YEAR

Z_95 = 1.959963984540054  # standard normal quantile at 0.975
# S exactly 0.5 must count as the median also when the product is off by an ulp
_HALF = 0.5 + 1e-12


@dataclass(frozen=True, slots=True)
class Observation:
    """One device: years from purchase to its end of use (``ended``) or to the moment of
    observation while still in use (censored)."""

    years: float
    ended: bool


def observe(
    purchased_at: datetime | None, ended_at: datetime | None, moment: datetime
) -> Observation | None:
    """A device as seen at ``moment``: ended if its use ended before then, else censored there.
    None for a device with no known purchase (its age is unknown), one bought after
    ``moment``, or one whose end precedes its purchase (a data error, reported elsewhere)."""
    if purchased_at is None or purchased_at > moment:
        return None
    if ended_at is not None and ended_at < moment:
        if ended_at < purchased_at:
            return None
        return Observation((ended_at - purchased_at).total_seconds() / SECONDS_PER_YEAR, True)
    return Observation((moment - purchased_at).total_seconds() / SECONDS_PER_YEAR, False)


@dataclass(frozen=True, slots=True)
class Step:
    """The curve at one time at which at least one device ended."""

    years: float
    at_risk: int
    ended: int
    survival: float
    ci_lower: float
    ci_upper: float

    def as_json(self) -> dict[str, Any]:
        return {
            "years": round(self.years, 6),
            "at_risk": self.at_risk,
            "ended": self.ended,
            "survival": round(self.survival, 6),
            "ci_lower": round(self.ci_lower, 6),
            "ci_upper": round(self.ci_upper, 6),
        }


def _bands(survival: float, greenwood_sum: float) -> tuple[float, float]:
    if survival >= 1.0:
        return 1.0, 1.0
    if survival <= 0.0:
        return 0.0, 0.0
    log_s = math.log(survival)
    spread = Z_95 * math.sqrt(greenwood_sum) / log_s  # negative: log S < 0
    lower = math.exp(-math.exp(math.log(-log_s) - spread))
    upper = math.exp(-math.exp(math.log(-log_s) + spread))
    return lower, upper


@dataclass(frozen=True)
class SurvivalCurve:
    observations: int
    ended: int
    steps: tuple[Step, ...]
    durations: tuple[float, ...]  # every observation's years, sorted (for the risk set)

    @property
    def censored(self) -> int:
        return self.observations - self.ended

    def _index(self, years: float, before: bool) -> int:
        """How many steps lie at or before ``years`` (strictly before when ``before``)."""
        times = [s.years for s in self.steps]
        return bisect_left(times, years) if before else bisect_right(times, years)

    def at(self, years: float, before: bool = False) -> tuple[float, float, float]:
        """(S, lower, upper) at ``years``; ``before`` gives S(t-), the survival up to but not
        including t (the share of devices whose life lasts at least t)."""
        i = self._index(years, before)
        if i == 0:
            return 1.0, 1.0, 1.0
        step = self.steps[i - 1]
        return step.survival, step.ci_lower, step.ci_upper

    def at_risk(self, years: float) -> int:
        """Devices observed for at least ``years``: still at risk at that age."""
        return len(self.durations) - bisect_left(self.durations, years)

    @staticmethod
    def _first_at_or_below(values: Iterable[tuple[float, float]]) -> float | None:
        for years, value in values:
            if value <= _HALF:
                return years
        return None

    @property
    def median_years(self) -> float | None:
        return self._first_at_or_below((s.years, s.survival) for s in self.steps)

    @property
    def median_ci_years(self) -> tuple[float | None, float | None]:
        lower = self._first_at_or_below((s.years, s.ci_lower) for s in self.steps)
        upper = self._first_at_or_below((s.years, s.ci_upper) for s in self.steps)
        return lower, upper

    def by_whole_year(self) -> list[dict[str, Any]]:
        """At risk and S(t-) at each whole year of age while any device is at risk."""
        rows = []
        year = 0
        while self.at_risk(year) > 0:
            s, lower, upper = self.at(year, before=True)
            rows.append(
                {
                    "year": year,
                    "at_risk": self.at_risk(year),
                    "survival": round(s, 6),
                    "ci_lower": round(lower, 6),
                    "ci_upper": round(upper, 6),
                }
            )
            year += 1
        return rows

    def summary(self, target_years: float | None) -> dict[str, Any]:
        """The figures a report shows: counts, median with its CI, the share expected to reach
        the target lifespan (S just before the target, with its CI), at risk by year."""
        low, high = self.median_ci_years
        out: dict[str, Any] = {
            "assets": self.observations,
            "ended": self.ended,
            "censored": self.censored,
            "median_years": _round(self.median_years),
            "median_ci_lower_years": _round(low),
            "median_ci_upper_years": _round(high),
            "target_years": target_years,
            "reached_target_share": None,
            "reached_target_ci_lower": None,
            "reached_target_ci_upper": None,
            "by_year": self.by_whole_year(),
        }
        if target_years is not None and self.observations:
            s, lower, upper = self.at(target_years, before=True)
            out["reached_target_share"] = round(s, 6)
            out["reached_target_ci_lower"] = round(lower, 6)
            out["reached_target_ci_upper"] = round(upper, 6)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def kaplan_meier(observations: Iterable[Observation]) -> SurvivalCurve:
    items = [o for o in observations if o.years >= 0 and math.isfinite(o.years)]
    durations = tuple(sorted(o.years for o in items))
    ends = Counter(o.years for o in items if o.ended)
    steps: list[Step] = []
    survival, greenwood = 1.0, 0.0
    for years in sorted(ends):
        n = len(durations) - bisect_left(durations, years)
        d = ends[years]
        survival *= 1 - d / n
        if n > d:
            greenwood += d / (n * (n - d))
        lower, upper = _bands(survival, greenwood)
        steps.append(Step(years, n, d, survival, lower, upper))
    return SurvivalCurve(len(items), sum(ends.values()), tuple(steps), durations)
