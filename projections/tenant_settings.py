"""Per-tenant parameters of the KPIs and the carbon model, with sourced defaults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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


DEFAULTS = TenantSettings()
