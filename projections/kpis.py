"""KPI formulas over summed aggregates (``docs/methodology.md``, "KPI definitions"). Pure.

A share is ``None`` when its denominator is 0: "no purchases this month" is not "0 %".
Savings are reported per method and never netted (ESRS E1-4 34(b)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.models import CertificationScheme
from projections.kpi_facts import SECONDS_PER_YEAR


def share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def kg(grams: int) -> float:
    return grams / 1000


# (scheme, its measure), made once: iterating the enum per slice was a third of this function
# (API profile, supplier x month: 144 slices per request)
_SCHEMES = tuple((s.value, f"cert_{s.value}") for s in CertificationScheme)


def compute(m: Mapping[str, int]) -> dict[str, Any]:
    """Every KPI of one slice from its summed measures."""
    purchases = m.get("purchases", 0)
    ended = m.get("ended", 0)
    lifespan_known = m.get("lifespan_known", 0)
    taken_back = m.get("taken_back", 0)
    rows = m.get("savings_rows", 0)
    longer = m.get("savings_longer_life_g", 0)
    reuse = m.get("savings_reuse_g", 0)
    refurbished = m.get("savings_refurbished_purchase_g", 0)
    return {
        # 3. certification share, and per scheme
        "purchases": purchases,
        "certification_share": share(m.get("purchases_certified", 0), purchases),
        "certification_share_by_scheme": {
            scheme: share(m.get(measure, 0), purchases) for scheme, measure in _SCHEMES
        },
        # 4. refurbished-purchase share
        "refurbished_purchase_share": share(m.get("purchases_refurbished", 0), purchases),
        "purchased_weight_kg": kg(m.get("purchased_weight_g", 0)),
        "purchases_with_weight": m.get("purchases_with_weight", 0),
        # 1. lifespan of assets whose use ended in the period
        "ended_assets": ended,
        "lifespan_known_assets": lifespan_known,
        "lifespan_mean_years": m.get("lifespan_seconds_sum", 0) / lifespan_known / SECONDS_PER_YEAR
        if lifespan_known
        else None,
        "reached_target_share": share(m.get("reached_target", 0), lifespan_known),
        # 2. take-back share, and second life of what was taken back
        "taken_back_share": share(m.get("ended_taken_back", 0), ended),
        # internal re-use: a second internal user before the use ended
        "internal_reuse_share": share(m.get("ended_reused_internally", 0), ended),
        "ended_by_channel": {
            "taken_back_resale": m.get("taken_back_resale", 0),
            "taken_back_refurbishment": m.get("taken_back_refurbishment", 0),
            "taken_back_donation": m.get("taken_back_donation", 0),
            "taken_back_recycling": m.get("taken_back_recycling", 0),
            "recycled_directly": m.get("ended_recycled", 0),
        },
        "taken_back_assets": taken_back,
        "second_life_share": share(m.get("taken_back_second_life", 0), taken_back),
        "taken_back_recycled_share": share(m.get("taken_back_then_recycled", 0), taken_back),
        # 5. carbon savings, each method separately
        "savings_longer_life_kg_co2e": kg(longer),
        "savings_reuse_after_take_back_kg_co2e": kg(reuse),
        "savings_refurbished_purchase_kg_co2e": kg(refurbished),
        "savings_primary_data_share": share(m.get("savings_rows_primary", 0), rows),
    }
