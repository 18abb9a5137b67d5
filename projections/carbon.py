"""Carbon model: versioned embodied-carbon factor tables and the three saving methods.

All figures and formulas from ``docs/methodology.md`` ("Carbon savings", "Embodied-carbon
factor tables"). A factor table is versioned data chosen explicitly per deployment; every saving
records which table and version it used and whether E came from the event (primary data) or
from the table (secondary data), because CSRD asks for the share of primary data.

- Longer life: ``E * (L/N - 1)`` (negative when L < N, reported as is). Source: TCO
  Development's annualised footprint A(L) = E/L + U.
- Reuse after take-back: ``d * (E - R)``. Inrego with IVL report about 280 kg per laptop and
  520 kg per monitor on this method.
- Refurbished purchase: ``E - R`` at purchase.
Repairs count through longer life, not a second time. Savings are never netted against the
emissions inventory (ESRS E1-4 34(b)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class FactorTable:
    source: str
    version: str
    citation: str
    embodied_kg: dict[str, float]  # category -> kg CO2e, device new, cradle to gate


ADEME_NEGAOCTET = FactorTable(
    source="ademe-negaoctet",
    version="boavizta-archetypes-v2.5",
    citation="ADEME/NegaOctet via Boavizta archetypes v2.5 (server: ADEME generic); "
    "Boavizta data under ODbL, used with attribution",
    embodied_kg={
        "laptop": 181.0,
        "desktop": 277.0,
        "monitor": 64.7,
        "smartphone": 84.0,
        "tablet": 75.9,
        "server": 3660.0,
    },
)

BOAVIZTA_PCF_MEDIAN = FactorTable(
    source="boavizta-pcf-median",
    version="pcf-dataset-embodied-median-2026",
    citation="Median of manufacturer product carbon footprints, embodied share, Boavizta PCF "
    "dataset (laptop n=422, desktop n=254, monitor n=257, smartphone n=50, tablet n=22, "
    "server n=55 rack); Boavizta data under ODbL, used with attribution",
    embodied_kg={
        "laptop": 241.0,
        "desktop": 301.0,
        "monitor": 357.0,
        "smartphone": 56.0,
        "tablet": 74.0,
        "server": 1278.0,
    },
)


@dataclass(frozen=True, slots=True)
class FactorTableVersion:
    """A factor table as the deployment recorded it, with its figures: the KPIs were computed
    with it from ``recorded_at`` until the next version. A factor-table change applies to the
    whole history (a restatement): one inventory is never computed with two tables."""

    version: int
    table: FactorTable
    recorded_at: datetime | None = None
    recorded_by: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "factor_source": self.table.source,
            "factor_version": self.table.version,
            "effective_from": None,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "recorded_by": self.recorded_by,
        }


def table_known_before(
    history: Sequence[FactorTableVersion], moment: datetime | None
) -> FactorTableVersion | None:
    """The factor table in force just before ``moment`` (now when None). Before the first
    recorded change, the first table: the one the projections started with. None without any
    history."""
    if not history:
        return None
    ordered = sorted(history, key=lambda v: v.version)
    known = [v for v in ordered if moment is None or (v.recorded_at and v.recorded_at < moment)]
    return known[-1] if known else ordered[0]


FACTOR_TABLES: dict[str, FactorTable] = {
    t.source: t for t in (BOAVIZTA_PCF_MEDIAN, ADEME_NEGAOCTET)
}
DEFAULT_FACTOR_SOURCE = BOAVIZTA_PCF_MEDIAN.source


class UnknownFactorSource(ValueError):
    """The configured factor table does not exist; the message lists those that do."""


def factor_table(source: str) -> FactorTable:
    """The factor table a deployment chose (``KRETSLOPP_FACTOR_SOURCE``)."""
    table = FACTOR_TABLES.get(source)
    if table is None:
        raise UnknownFactorSource(
            f"KRETSLOPP_FACTOR_SOURCE={source!r} is unknown; "
            f"choose one of {', '.join(sorted(FACTOR_TABLES))}"
        )
    return table


# Boavizta default life (years) per category, docs/methodology.md: the default baseline
# replacement cycle N and target lifespan until a tenant sets its own.
BOAVIZTA_DEFAULT_LIFE_YEARS: dict[str, float] = {
    "laptop": 4.0,
    "desktop": 6.0,
    "monitor": 6.6,
    "smartphone": 2.5,
    "tablet": 3.0,
    "server": 4.0,
}


class Method(StrEnum):
    LONGER_LIFE = "longer_life"
    REUSE_AFTER_TAKE_BACK = "reuse_after_take_back"
    REFURBISHED_PURCHASE = "refurbished_purchase"


class DataQuality(StrEnum):
    PRIMARY = "primary"  # E from the purchase event (maker's product carbon footprint)
    SECONDARY = "secondary"  # E from the factor table


@dataclass(frozen=True, slots=True)
class Embodied:
    kg: float
    quality: DataQuality


def resolve_embodied(
    event_pcf_kg: float | None, category: str | None, table: FactorTable
) -> Embodied | None:
    """Primary data first, then the category's default factor; None if neither exists."""
    if event_pcf_kg is not None:
        return Embodied(event_pcf_kg, DataQuality.PRIMARY)
    if category is not None and category in table.embodied_kg:
        return Embodied(table.embodied_kg[category], DataQuality.SECONDARY)
    return None


def longer_life_kg(embodied_kg: float, life_years: float, baseline_years: float) -> float:
    return embodied_kg * (life_years / baseline_years - 1)


def reuse_kg(embodied_kg: float, refurbishment_kg: float, displacement: float) -> float:
    return displacement * (embodied_kg - refurbishment_kg)


def refurbished_purchase_kg(embodied_kg: float, refurbishment_kg: float) -> float:
    return embodied_kg - refurbishment_kg


def to_grams(kg: float) -> int:
    """Savings are stored as whole grams so sums are exact (see migration 0002)."""
    return round(kg * 1000)
