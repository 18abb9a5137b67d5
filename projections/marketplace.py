"""The internal re-use marketplace of one asset: its offers, reservations and hand-overs, as
part of the asset's fold. Pure (``docs/methodology.md``, "Internal re-use marketplace").

An org unit offers a device in use; another reserves it (the first reservation holds it,
later ones queue behind it); a reservation is released (the next in the queue then holds it)
or the offer withdrawn; the hand-over is the existing ``redeployed``. A take-back or a
recycling closes the offer. Transitions are decided in the asset's canonical event order,
like everything in the fold, so any arrival order gives the same offers: an impossible
transition is not applied and is kept with its reason as an anomaly of the asset (a late
event can make an early one valid, so it cannot be refused on arrival).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from events.models import (
    LifecycleEvent,
    OfferedForReuse,
    OfferWithdrawn,
    Recycled,
    Redeployed,
    ReservationReleased,
    Reserved,
    TakenBack,
)
from projections.instants import utc_text

OPEN, RESERVED = "open", "reserved"
_FATES = ("in_use", "taken_back", "refurbished", "recycled")  # where a device is now
CLOSED_BY = {  # how an offer closes, by the event that closes it
    "redeployed": "handed_over",
    "offer_withdrawn": "withdrawn",
    "taken_back": "taken_back",
    "recycled": "recycled",
}


@dataclass(frozen=True, slots=True)
class Reservation:
    org_unit: str
    reserved_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"org_unit": self.org_unit, "reserved_at": utc_text(self.reserved_at)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Reservation:
        return cls(raw["org_unit"], datetime.fromisoformat(raw["reserved_at"]))


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: str  # the event id of the offered_for_reuse event
    org_unit: str
    condition: str
    includes: tuple[str, ...]
    location: str | None
    available_until: date | None
    offered_at: datetime
    holder: Reservation | None = None
    queue: tuple[Reservation, ...] = ()
    closed_at: datetime | None = None
    outcome: str | None = None  # handed_over | withdrawn | taken_back | recycled
    handed_to: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return self.outcome
        return RESERVED if self.holder is not None else OPEN

    def as_json(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "org_unit": self.org_unit,
            "condition": self.condition,
            "includes": list(self.includes),
            "location": self.location,
            "available_until": self.available_until.isoformat() if self.available_until else None,
            "offered_at": utc_text(self.offered_at),
            "holder": self.holder.as_json() if self.holder else None,
            "queue": [r.as_json() for r in self.queue],
            "closed_at": utc_text(self.closed_at) if self.closed_at else None,
            "outcome": self.outcome,
            "handed_to": self.handed_to,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Offer:
        until = raw.get("available_until")
        closed = raw.get("closed_at")
        return cls(
            offer_id=raw["offer_id"],
            org_unit=raw["org_unit"],
            condition=raw["condition"],
            includes=tuple(raw.get("includes", ())),
            location=raw.get("location"),
            available_until=date.fromisoformat(until) if until else None,
            offered_at=datetime.fromisoformat(raw["offered_at"]),
            holder=Reservation.from_json(raw["holder"]) if raw.get("holder") else None,
            queue=tuple(Reservation.from_json(r) for r in raw.get("queue", ())),
            closed_at=datetime.fromisoformat(closed) if closed else None,
            outcome=raw.get("outcome"),
            handed_to=raw.get("handed_to"),
        )


Offers = tuple[Offer, ...]


class Rejected(ValueError):
    """An impossible transition; the message is the reason kept with the asset."""


def _open(offers: Offers) -> Offer | None:
    return next((o for o in offers if o.is_open), None)


def _with(offers: Offers, changed: Offer) -> Offers:
    return tuple(changed if o.offer_id == changed.offer_id else o for o in offers)


def _the_open_offer(offers: Offers, offer_id: str, what: str) -> Offer:
    offer = _open(offers)
    if offer is None or offer.offer_id != offer_id:
        raise Rejected(f"{what}: offer {offer_id} is not open")
    return offer


_CLOSING_EVENTS = (Redeployed, TakenBack, Recycled)  # exact types (see asset_state._changes)


def apply(offers: Offers, event: LifecycleEvent, in_use: bool) -> Offers:
    """The asset's offers after ``event``; raises :class:`Rejected` for an impossible
    transition. ``in_use``: the asset was the organisation's, in use, before the event."""
    at = event.occurred_at
    if type(event) is OfferedForReuse:
        if not in_use:
            raise Rejected("offered_for_reuse: only an asset in use can be offered")
        already = _open(offers)
        if already is not None:
            raise Rejected(f"offered_for_reuse: offer {already.offer_id} is already open")
        p = event.payload
        offer = Offer(
            offer_id=str(event.event_id),
            org_unit=p.org_unit,
            condition=p.condition.value,
            includes=tuple(p.includes),
            location=p.location,
            available_until=p.available_until,
            offered_at=at,
        )
        return (*offers, offer)
    if type(event) is Reserved:
        offer = _the_open_offer(offers, str(event.payload.offer_id), "reserved")
        unit = event.payload.org_unit
        if unit == offer.org_unit:
            raise Rejected("reserved: an org unit cannot reserve its own offer")
        if unit in {r.org_unit for r in (offer.holder, *offer.queue) if r is not None}:
            raise Rejected(f"reserved: {unit} already has a reservation on this offer")
        reservation = Reservation(unit, at)
        if offer.holder is None:
            return _with(offers, replace(offer, holder=reservation))
        return _with(offers, replace(offer, queue=(*offer.queue, reservation)))
    if type(event) is ReservationReleased:
        offer = _the_open_offer(offers, str(event.payload.offer_id), "reservation_released")
        unit = event.payload.org_unit
        if offer.holder is not None and offer.holder.org_unit == unit:
            # the next in the queue holds it from now
            nxt = replace(offer.queue[0], reserved_at=at) if offer.queue else None
            return _with(offers, replace(offer, holder=nxt, queue=offer.queue[1:]))
        if unit in {r.org_unit for r in offer.queue}:
            kept = tuple(r for r in offer.queue if r.org_unit != unit)
            return _with(offers, replace(offer, queue=kept))
        raise Rejected(f"reservation_released: {unit} has no reservation on this offer")
    if type(event) is OfferWithdrawn:
        offer = _the_open_offer(offers, str(event.payload.offer_id), "offer_withdrawn")
        return _with(offers, replace(offer, closed_at=at, outcome="withdrawn"))
    if type(event) in _CLOSING_EVENTS:
        current = _open(offers)
        if current is None:
            return offers
        handed_to = event.payload.to_org_unit if type(event) is Redeployed else None
        outcome = CLOSED_BY[event.event_type]
        return _with(offers, replace(current, closed_at=at, outcome=outcome, handed_to=handed_to))
    return offers


def days_on_offer(offer: Offer, now: datetime) -> float:
    end = offer.closed_at or now
    return max((end - offer.offered_at).total_seconds(), 0.0) / 86400


@dataclass(frozen=True, slots=True)
class ListedAsset:
    """What the marketplace's reads know of an asset: its offers and where it is now."""

    asset_id: str
    category: str | None
    purchased_at: datetime | None
    status: str | None  # in_use | taken_back | refurbished | recycled
    offers: Offers


def listing(asset: ListedAsset, offer: Offer, now: datetime) -> dict[str, Any]:
    """One offer as the marketplace lists it."""
    age = (
        round((now - asset.purchased_at).total_seconds() / (365.25 * 86400), 2)
        if asset.purchased_at
        else None
    )
    return {
        "asset_id": asset.asset_id,
        "category": asset.category,
        "age_years": age,
        "days_on_offer": round(days_on_offer(offer, now), 1),
        **{k: v for k, v in offer.as_json().items() if k != "holder"},
        "holder_org_unit": offer.holder.org_unit if offer.holder else None,
        "queue": [r.org_unit for r in offer.queue],
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def kpis(
    assets: list[ListedAsset], first_day: date, last_day: date, now: datetime
) -> dict[str, Any]:
    """The marketplace's own figures for offers that closed or expired from ``first_day`` to
    ``last_day`` (UTC days). An offer **expired unused** when nobody took it: closed by the
    device's take-back or recycling, or still open past its ``available_until``. What then
    happened to those devices is where they are now."""
    today = now.date()

    def inside(day: date) -> bool:
        return first_day <= day <= last_day

    handed, withdrawn, expired_then = [], 0, {s: 0 for s in _FATES}
    for asset in assets:
        for offer in asset.offers:
            closed = offer.closed_at.date() if offer.closed_at else None
            if offer.outcome == "handed_over" and closed and inside(closed):
                handed.append(days_on_offer(offer, now))
            elif offer.outcome == "withdrawn" and closed and inside(closed):
                withdrawn += 1
            elif (offer.outcome in ("taken_back", "recycled") and closed and inside(closed)) or (
                offer.is_open
                and offer.available_until is not None
                and offer.available_until < today
                and inside(offer.available_until)
            ):
                expired_then[asset.status if asset.status in _FATES else "in_use"] += 1
    return {
        "offers_open_now": sum(1 for a in assets for o in a.offers if o.is_open),
        "offers_handed_over": len(handed),
        "median_days_on_offer": None if not handed else round(_median(handed) or 0.0, 1),
        "offers_withdrawn": withdrawn,
        "offers_expired_unused": sum(expired_then.values()),
        "expired_unused_devices_now": expired_then,
    }
