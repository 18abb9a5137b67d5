"""A realistic, deterministic multi-year history of two organisations' device fleets.

Used by ``kretslopp up`` so a newcomer can watch events flow, and by tests as a varied dataset.
Shapes follow ``docs/methodology.md``: Boavizta default lifetimes per category, embodied factors
near the published medians for primary-data purchases, a share of refurbished purchases,
certifications that are sometimes expired on the purchase date, take-back channels, ITAD
refurbishment, direct recycling inside or outside the EU/EEA, assets bought before the system
existed (no purchase event) and a few late-reported repairs; take-backs with functional tests,
data-erasure certificates and compensation; internal re-use through the marketplace (offers,
reservations, a released reservation, hand-overs, withdrawn offers and offers nobody took before
the device left). Event ids are UUIDv5 of the seed, so playing the same history twice adds
nothing. The schema-2 facts draw from their own random stream, so the rest of the history is
what it was before they existed.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from events.codec import EVENT_ADAPTER
from events.models import CURRENT_SCHEMA_VERSION, LifecycleEvent

START = datetime(2019, 1, 1, tzinfo=UTC)
END = datetime(2026, 10, 31, tzinfo=UTC)
_NAMESPACE = uuid.UUID("6f1c2d2e-8d0b-4c55-9d1e-6b7265747373")


@dataclass(frozen=True)
class CategoryProfile:
    share: float
    life_years: float  # Boavizta default life (docs/methodology.md)
    embodied_kg: float  # median of manufacturer PCFs (docs/methodology.md)
    weight_kg: float
    price_sek: float
    makers: tuple[tuple[str, str], ...]


CATEGORIES: dict[str, CategoryProfile] = {
    "laptop": CategoryProfile(
        0.48,
        4.0,
        241,
        1.6,
        14000,
        (
            ("Lenovo", "ThinkPad T14"),
            ("HP", "EliteBook 840"),
            ("Dell", "Latitude 5440"),
            ("Apple", "MacBook Air 13"),
        ),
    ),
    "monitor": CategoryProfile(
        0.24, 6.6, 357, 5.5, 2800, (("Dell", "P2423D"), ("Lenovo", "ThinkVision T24i"))
    ),
    "smartphone": CategoryProfile(
        0.13, 2.5, 56, 0.19, 7000, (("Apple", "iPhone 13"), ("Samsung", "Galaxy A54"))
    ),
    "desktop": CategoryProfile(
        0.08, 6.0, 301, 6.0, 9000, (("HP", "ProDesk 400"), ("Lenovo", "ThinkCentre M70q"))
    ),
    "tablet": CategoryProfile(0.05, 3.0, 74, 0.5, 6000, (("Apple", "iPad 10.9"),)),
    "server": CategoryProfile(
        0.02, 4.0, 1278, 18.0, 90000, (("Dell", "PowerEdge R660"), ("HPE", "ProLiant DL360"))
    ),
}


@dataclass(frozen=True)
class TenantProfile:
    tenant_id: str
    source: str
    life_factor: float  # how much longer than the default this organisation keeps devices
    take_back_share: float
    org_units: tuple[str, ...]


TENANTS = (
    TenantProfile(
        "goteborg-kommun",
        "servicenow",
        1.25,
        0.8,
        ("skola-nord", "skola-syd", "socialtjanst", "stadsbyggnad", "it-central"),
    ),
    TenantProfile(
        "nordvik-energi",
        "snipe-it",
        0.95,
        0.55,
        ("drift", "kundtjanst", "ekonomi", "utveckling"),
    ),
)
SUPPLIERS_NEW = ("Atea", "Dustin", "Komplett Företag")
SUPPLIERS_REFURBISHED = ("Inrego", "Atea Refurbished")
ITADS = ("Inrego", "Sims Lifecycle", "Foxway")
RECYCLERS = ("Stena Recycling", "El-Kretsen")


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed

    def event_id(self, *parts: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, (self.seed, *parts)))))

    def event(
        self,
        kind: str,
        tenant: TenantProfile,
        asset: str,
        when: datetime,
        n: int,
        payload: dict[str, Any],
        source: str | None = None,
    ) -> dict[str, Any]:
        return {
            "event_id": self.event_id(tenant.tenant_id, asset, n, kind),
            "event_type": kind,
            "schema_version": CURRENT_SCHEMA_VERSION,
            "tenant_id": tenant.tenant_id,
            "asset_id": asset,
            "occurred_at": when.isoformat(),
            "source": source or tenant.source,
            "payload": payload,
        }


def _pick_category(rng: random.Random) -> str:
    roll = rng.random()
    total = 0.0
    for name, profile in CATEGORIES.items():
        total += profile.share
        if roll < total:
            return name
    return "laptop"


def _certifications(rng: random.Random, category: str, bought: datetime) -> list[dict[str, Any]]:
    certs: list[dict[str, Any]] = []
    if rng.random() < 0.62:
        # about one in twelve certificates had already expired on the purchase date
        expired = rng.random() < 0.08
        until = (
            bought - timedelta(days=rng.randint(10, 300))
            if expired
            else (bought + timedelta(days=rng.randint(200, 1200)))
        )
        certs.append(
            {
                "scheme": "tco_certified",
                "generation": rng.choice(["Generation 9", "Generation 10"]),
                "valid_until": until.date().isoformat(),
            }
        )
    if rng.random() < 0.3:
        certs.append({"scheme": "epeat", "generation": rng.choice(["Silver", "Gold"])})
    if category in ("monitor", "desktop") and rng.random() < 0.4:
        certs.append({"scheme": "energy_star"})
    return certs


def generate(
    devices: int = 3000,
    seed: int = 2030,
    *,
    first: int = 0,
    repairs_per_year: float = 0.25,
    redeploys_per_year: float = 0.2,
) -> list[dict[str, Any]]:
    """Events as JSON objects, in the order a producer would send them (late ones last).

    ``first`` numbers the devices from there, so large fleets can be made chunk by chunk
    (use a different seed per chunk); the per-year rates make histories longer or shorter.
    """
    b = _Builder(seed)
    rng = b.rng
    on_time: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    span_days = (END - START).days
    for i in range(first, first + devices):
        tenant = TENANTS[i % len(TENANTS)]
        category = _pick_category(rng)
        profile = CATEGORIES[category]
        asset = f"{tenant.tenant_id[:3].upper()}-{i:06d}"
        bought = START + timedelta(days=rng.randint(0, span_days - 30), hours=rng.randint(7, 16))
        refurbished = rng.random() < 0.12
        maker, model = rng.choice(profile.makers)
        org_unit = rng.choice(tenant.org_units)
        extra = random.Random(f"{seed}/{i}")  # schema-2 facts: a stream of their own
        n = 0
        known = rng.random() >= 0.03  # 3 % were bought before the system existed
        if known:
            payload: dict[str, Any] = {
                "category": category,
                "manufacturer": maker,
                "model": model,
                "serial": f"SN{seed}{i:07d}",
                "supplier": rng.choice(SUPPLIERS_REFURBISHED if refurbished else SUPPLIERS_NEW),
                "condition": "refurbished" if refurbished else "new",
                "certifications": _certifications(rng, category, bought),
                "weight_kg": round(profile.weight_kg * rng.uniform(0.9, 1.1), 2),
                "price": {
                    "amount": round(profile.price_sek * (0.55 if refurbished else 1.0)),
                    "currency": "SEK",
                },
                "warranty_months": rng.choice([12, 24, 36, 48]),
                "org_unit": org_unit,
            }
            if rng.random() < 0.4:  # maker's product carbon footprint: primary data
                payload["product_carbon_footprint_kg_co2e"] = round(
                    profile.embodied_kg * rng.uniform(0.8, 1.2), 1
                )
            on_time.append(b.event("purchased", tenant, asset, bought, n, payload))
        n += 1
        life_years = profile.life_years * tenant.life_factor * rng.lognormvariate(0, 0.3)
        ends = bought + timedelta(days=life_years * 365.25)
        horizon = min(ends, END)
        years = (horizon - bought).days / 365.25
        for _ in range(_poisson(rng, repairs_per_year * years)):
            when = bought + timedelta(days=rng.uniform(30, max(31, (horizon - bought).days)))
            repair = b.event(
                "repaired",
                tenant,
                asset,
                when,
                n,
                {
                    "kind": rng.choice(["repair", "repair", "upgrade"]),
                    "parts": [rng.choice(["battery", "keyboard", "screen", "ssd", "ram"])],
                },
            )
            n += 1
            (late if rng.random() < 0.05 else on_time).append(repair)
        redeploys = [
            (
                bought + timedelta(days=rng.uniform(30, max(31, (horizon - bought).days))),
                rng.choice(tenant.org_units),
            )
            for _ in range(_poisson(rng, redeploys_per_year * years))
        ]
        for r, (when, to_unit) in enumerate(sorted(redeploys)):
            if r == 0 and known and to_unit != org_unit and extra.random() < 0.5:
                # found a second user through the marketplace: offered, reserved, handed over
                for event in _offer_then_reserve(
                    b, extra, tenant, asset, when, n, org_unit, to_unit
                ):
                    on_time.append(event)
                    n += 1
            on_time.append(b.event("redeployed", tenant, asset, when, n, {"to_org_unit": to_unit}))
            n += 1
        last_hand_over = max((when for when, _ in redeploys), default=bought)
        if ends >= END:
            offered_at = END - timedelta(days=extra.randint(1, 60))
            if known and extra.random() < 0.05 and offered_at > last_hand_over + timedelta(days=1):
                # on offer now, at the end of the history: some already reserved
                offer = b.event(
                    "offered_for_reuse",
                    tenant,
                    asset,
                    offered_at,
                    n,
                    {
                        "org_unit": org_unit,
                        "condition": extra.choice(["as_new", "good", "good", "fair", "worn"]),
                        "includes": extra.choice([[], ["charger"]]),
                        "location": f"{org_unit}, IT desk",
                    },
                    source="kretslopp-marketplace",
                )
                on_time.append(offer)
                n += 1
                takers = [u for u in tenant.org_units if u != org_unit]
                if extra.random() < 0.4:
                    on_time.append(
                        b.event(
                            "reserved",
                            tenant,
                            asset,
                            min(END, offered_at + timedelta(days=extra.randint(0, 3))),
                            n,
                            {"offer_id": offer["event_id"], "org_unit": extra.choice(takers)},
                            source="kretslopp-marketplace",
                        )
                    )
                    n += 1
            continue
        if known and extra.random() < 0.12 and (ends - last_hand_over).days > 60:
            # offered before it left, and nobody took it: closed by the take-back or recycling,
            # or withdrawn by the unit
            offered = b.event(
                "offered_for_reuse",
                tenant,
                asset,
                ends - timedelta(days=40),
                n,
                {
                    "org_unit": org_unit,
                    "condition": extra.choice(["good", "fair", "worn"]),
                    "available_until": (ends - timedelta(days=10)).date().isoformat(),
                },
                source="kretslopp-marketplace",
            )
            on_time.append(offered)
            n += 1
            if extra.random() < 0.3:
                on_time.append(
                    b.event(
                        "offer_withdrawn",
                        tenant,
                        asset,
                        ends - timedelta(days=15),
                        n,
                        {"offer_id": offered["event_id"]},
                        source="kretslopp-marketplace",
                    )
                )
                n += 1
        if rng.random() < tenant.take_back_share:
            itad = rng.choice(ITADS)
            channel = rng.choices(
                ["refurbishment", "resale", "donation", "recycling"], [55, 20, 5, 20]
            )[0]
            take_back: dict[str, Any] = {
                "counterparty": itad,
                "channel": channel,
                "certificate_reference": f"TB-{seed}-{i}",
                "inside_eu_eea": extra.random() < 0.95,
            }
            if extra.random() < 0.9:
                take_back["data_erasure_certificate_reference"] = f"DE-{seed}-{i}"
            if extra.random() < 0.7:
                take_back["functional_test"] = {
                    "result": "passed" if extra.random() < 0.85 else "failed",
                    "report_reference": f"FT-{seed}-{i}",
                }
            if channel in ("refurbishment", "resale") and extra.random() < 0.6:
                take_back["compensation"] = {
                    "amount": round(profile.price_sek * extra.uniform(0.03, 0.12)),
                    "currency": "SEK",
                }
            on_time.append(
                b.event("taken_back", tenant, asset, ends, n, take_back, source="itad-report")
            )
            n += 1
            after = ends + timedelta(days=rng.randint(20, 90))
            if after >= END:
                continue
            if channel in ("refurbishment", "resale") and rng.random() < 0.8:
                footprint = round(profile.embodied_kg * rng.uniform(0.05, 0.12), 1)
                on_time.append(
                    b.event(
                        "refurbished",
                        tenant,
                        asset,
                        after,
                        n,
                        {
                            "refurbisher": itad,
                            "grade": rng.choice(["A", "A", "B", "C"]),
                            "refurbishment_footprint_kg_co2e": footprint,
                            "functional_test": {"result": "passed"},
                            "inside_eu_eea": extra.random() < 0.9,
                        },
                        source="itad-report",
                    )
                )
            elif channel == "recycling":
                on_time.append(
                    b.event(
                        "recycled",
                        tenant,
                        asset,
                        after,
                        n,
                        {
                            "recycler": itad,
                            "inside_eu_eea": True,
                            "weight_kg": round(profile.weight_kg, 2),
                            "certificate_reference": f"RC-{seed}-{i}",
                        },
                        source="itad-report",
                    )
                )
        else:
            on_time.append(
                b.event(
                    "recycled",
                    tenant,
                    asset,
                    ends,
                    n,
                    {
                        "recycler": rng.choice(RECYCLERS),
                        "inside_eu_eea": rng.random() < 0.92,
                        "weight_kg": round(profile.weight_kg, 2),
                    },
                )
            )
    on_time.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return on_time + late


def _offer_then_reserve(
    b: _Builder,
    rng: random.Random,
    tenant: TenantProfile,
    asset: str,
    handed_over: datetime,
    n: int,
    offering: str,
    taking: str,
) -> list[dict[str, Any]]:
    """An offer two weeks before the hand-over and the taker's reservation; now and then a
    third unit reserves first and releases it again."""
    offer = b.event(
        "offered_for_reuse",
        tenant,
        asset,
        handed_over - timedelta(days=14),
        n,
        {
            "org_unit": offering,
            "condition": rng.choice(["as_new", "good", "good", "fair"]),
            "includes": rng.choice([[], ["charger"], ["charger", "docking station"]]),
            "location": f"{offering}, IT desk",
        },
        source="kretslopp-marketplace",
    )
    events = [offer]

    def reservation(kind: str, unit: str, days_before: int) -> None:
        events.append(
            b.event(
                kind,
                tenant,
                asset,
                handed_over - timedelta(days=days_before),
                n + len(events),
                {"offer_id": offer["event_id"], "org_unit": unit},
                source="kretslopp-marketplace",
            )
        )

    others = [u for u in tenant.org_units if u not in (offering, taking)]
    if others and rng.random() < 0.2:
        other = rng.choice(others)
        reservation("reserved", other, 9)
        reservation("reservation_released", other, 7)
    reservation("reserved", taking, 5)
    return events


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def as_events(objects: list[dict[str, Any]]) -> list[LifecycleEvent]:
    return [EVENT_ADAPTER.validate_python(o) for o in objects]
