"""Per-tenant parameters of the KPIs and the carbon model, with sourced defaults, and their
versions over time (``docs/methodology.md``, "Versioned settings and factor tables").

A change of settings never overwrites the one before: it becomes a new version that records
who made it, when it was recorded and from which date it applies. :class:`SettingsTimeline`
answers "which settings apply to a fact on day D, as known at moment K", so a report as known
on K is reproduced after later changes, and the live KPIs use every version known now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from events.models import Category
from projections.carbon import BOAVIZTA_DEFAULT_LIFE_YEARS

Years = Annotated[float, Field(gt=0, le=50, allow_inf_nan=False)]
Kg = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]

# Assumption, not from a published source: a refurbishment's footprint, when the event does not
# report one, is 10 % of the device's embodied footprint. Tenants should set their ITAD's
# figure (default_refurbishment_kg_co2e); the share of estimated values is reported.
DEFAULT_REFURBISHMENT_SHARE = 0.10


class TenantSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    baseline_years: dict[Category, Years] = Field(
        default_factory=dict,
        description="Baseline replacement cycle N per category; default: Boavizta default life.",
    )
    target_lifespan_years: dict[Category, Years] = Field(
        default_factory=dict,
        description="Lifespan target per category; default: the baseline N.",
    )
    displacement_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        default=1.0, description="Share of reused devices that displace a new purchase (d)."
    )
    default_refurbishment_kg_co2e: dict[Category, Kg] = Field(
        default_factory=dict,
        description="Refurbishment footprint R when an event does not report one; default: "
        f"{DEFAULT_REFURBISHMENT_SHARE:.0%} of E (an assumption, not a published figure).",
    )

    scope3_category: Literal[1, 2] = Field(
        default=2,
        description="GHG Protocol Scope 3 category for IT hardware bought: 1 (purchased goods, "
        "expensed) or 2 (capital goods); counted in full in the year of purchase.",
    )

    def baseline(self, category: str) -> float:
        value = self.baseline_years.get(Category(category))
        return value if value is not None else BOAVIZTA_DEFAULT_LIFE_YEARS[category]

    def target(self, category: str) -> float:
        value = self.target_lifespan_years.get(Category(category))
        return value if value is not None else self.baseline(category)

    def refurbishment_kg(self, category: str, embodied_kg: float) -> tuple[float, bool]:
        """(R, estimated?) for a refurbishment without a reported footprint."""
        value = self.default_refurbishment_kg_co2e.get(Category(category))
        if value is not None:
            return value, True
        return embodied_kg * DEFAULT_REFURBISHMENT_SHARE, True

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def at(self, moment: datetime | date) -> TenantSettings:
        """One set of settings applies on every day (the :class:`SettingsSource` protocol)."""
        return self


DEFAULTS = TenantSettings()


class SettingsSource(Protocol):
    """What the KPI facts need: the settings that apply to a fact on a given day."""

    def at(self, moment: datetime | date) -> TenantSettings: ...


def utc_day(moment: datetime | date) -> date:
    return moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment


@dataclass(frozen=True, slots=True)
class SettingsVersion:
    """One recorded change. ``effective_from`` None means from the start: a restatement of
    every period; a date means the version applies to facts on that day and after."""

    version: int
    settings: TenantSettings
    effective_from: date | None = None
    recorded_at: datetime | None = None
    recorded_by: str = ""
    reason: str | None = None

    def applies_on(self, day: date) -> bool:
        return self.effective_from is None or self.effective_from <= day

    def describe(self) -> dict[str, Any]:
        """The version's identity for reports and ``tenant-settings --history``."""
        return {
            "version": self.version,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "recorded_by": self.recorded_by,
            "reason": self.reason,
        }


DEFAULTS_VERSION = SettingsVersion(0, DEFAULTS, recorded_by="kretslopp defaults")


@dataclass(frozen=True, slots=True)
class SettingsTimeline:
    """A tenant's settings versions in the order they were recorded.

    The settings for day D are those of the most recently recorded version that applies on
    D; before any version applies, the defaults (version 0). So a later "from the start"
    version overrides everything before it, and a dated one only the days from its date.
    """

    versions: tuple[SettingsVersion, ...] = ()

    @classmethod
    def of(cls, versions: Iterable[SettingsVersion]) -> SettingsTimeline:
        return cls(tuple(sorted(versions, key=lambda v: v.version)))

    @property
    def version(self) -> int:
        """The newest version known (0: only the defaults): it identifies the whole timeline."""
        return self.versions[-1].version if self.versions else 0

    @property
    def latest(self) -> SettingsVersion:
        return self.versions[-1] if self.versions else DEFAULTS_VERSION

    def version_on(self, moment: datetime | date) -> SettingsVersion:
        day = utc_day(moment)
        for candidate in reversed(self.versions):
            if candidate.applies_on(day):
                return candidate
        return DEFAULTS_VERSION

    def at(self, moment: datetime | date) -> TenantSettings:
        if len(self.versions) == 1 and self.versions[0].effective_from is None:
            return self.versions[0].settings  # the common case, on the writer's hot path
        return self.version_on(moment).settings

    def known_before(self, moment: datetime | None) -> SettingsTimeline:
        """The versions recorded before ``moment`` (all when None): the timeline as known
        then."""
        if moment is None:
            return self
        return SettingsTimeline(
            tuple(v for v in self.versions if v.recorded_at is not None and v.recorded_at < moment)
        )

    def up_to(self, version: int) -> SettingsTimeline:
        return SettingsTimeline(tuple(v for v in self.versions if v.version <= version))

    def in_year(self, year: int) -> list[dict[str, Any]]:
        """The versions that apply to some day of ``year``, with the days they cover."""
        first, last = date(year, 1, 1), date(year, 12, 31)
        pieces: list[dict[str, Any]] = []
        day = first
        while day <= last:
            current = self.version_on(day)
            # the next day on which another version starts to apply
            starts = sorted(
                v.effective_from
                for v in self.versions
                if v.effective_from is not None and day < v.effective_from <= last
            )
            end = last
            for start in starts:
                if self.version_on(start).version != current.version:
                    end = date.fromordinal(start.toordinal() - 1)
                    break
            pieces.append({"from": day.isoformat(), "to": end.isoformat(), **current.describe()})
            day = date.fromordinal(end.toordinal() + 1)
        return pieces
