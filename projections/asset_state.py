"""The lifecycle state machine of one asset, as a pure fold over its events.

``docs/methodology.md`` ("Lifecycle events and states"): ``in_use`` after purchased / repaired
/ redeployed (and refurbished while still the organisation's); ``taken_back`` and
``refurbished`` outside the organisation and ``recycled`` end its use. ``recycled`` is
terminal: anything after it is an anomaly, kept and reported, never applied. An asset first
seen by an event other than ``purchased`` has an incomplete history (bought before the system
existed).

Events are folded in *canonical order* - ``occurred_at``, then lifecycle rank, then event id -
not in arrival order. So the state is a function of the set of events alone: a late event, a
replay, a rebuild from the event log or a different partition interleaving all give the same
state. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

from events.models import (
    LifecycleEvent,
    OfferedForReuse,
    OfferWithdrawn,
    Purchased,
    Recycled,
    Redeployed,
    Refurbished,
    Repaired,
    ReservationReleased,
    Reserved,
    TakenBack,
)
from projections import marketplace
from projections.instants import utc_text

# Where two events share an occurred_at, the lifecycle order decides: an offer, its
# reservations and its release or withdrawal come before the hand-over (redeployed). Ranks are
# stored with each state (last_event_rank); migration 0011 moved them from 0..5 to 0..50.
TYPE_RANK: dict[str, int] = {
    "purchased": 0,
    "repaired": 10,
    "offered_for_reuse": 12,
    "reserved": 14,
    "reservation_released": 16,
    "offer_withdrawn": 18,
    "redeployed": 20,
    "taken_back": 30,
    "refurbished": 40,
    "recycled": 50,
}

MAX_ANOMALIES_KEPT = 20


class Status(StrEnum):
    IN_USE = "in_use"
    TAKEN_BACK = "taken_back"
    REFURBISHED = "refurbished"  # refurbished outside the organisation, for a further life
    RECYCLED = "recycled"


class AnomalyKind(StrEnum):
    AFTER_RECYCLED = "event_after_recycled"
    AFTER_END_OF_USE = "in_use_event_after_end_of_use"
    REPEATED_PURCHASE = "repeated_purchase"
    REJECTED_TRANSITION = "rejected_transition"  # the marketplace's rules refused it


EventKey = tuple[datetime, int, str]


def event_key(event: LifecycleEvent) -> EventKey:
    return (event.occurred_at, TYPE_RANK[event.event_type], str(event.event_id))


def _order(event: LifecycleEvent) -> tuple[datetime, int, UUID]:
    """``event_key``'s order without its text: a UUID's 32 lower-case hex digits sort as its
    integer does, and ``str(UUID)`` (~0.7 us) is then made for the fold's last event alone."""
    return (event.occurred_at, TYPE_RANK[event.event_type], event.event_id)


@dataclass(frozen=True, slots=True)
class Anomaly:
    event_id: str
    event_type: str
    occurred_at: datetime
    kind: AnomalyKind
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": utc_text(self.occurred_at),
            "kind": self.kind.value,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class AssetState:
    tenant_id: str
    asset_id: str
    status: Status | None = None
    category: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    supplier: str | None = None
    condition: str | None = None
    org_unit: str | None = None
    purchase_org_unit: str | None = None
    purchased_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None  # "taken_back:<channel>" or "recycled"
    taken_back_at: datetime | None = None
    refurbished_at: datetime | None = None
    second_life_at: datetime | None = None  # first refurbishment after the end of use
    recycled_at: datetime | None = None
    recycled_inside_eu_eea: bool | None = None
    repair_count: int = 0
    redeploy_count: int = 0
    refurbish_count: int = 0
    certifications: tuple[str, ...] = ()  # schemes valid on the purchase date
    product_carbon_footprint_kg_co2e: float | None = None
    refurbishment_footprint_kg_co2e: float | None = None
    weight_kg: float | None = None
    incomplete_history: bool = False
    anomaly_count: int = 0
    anomalies: tuple[Anomaly, ...] = ()
    offers: marketplace.Offers = ()  # the internal re-use marketplace (projections/marketplace.py)
    event_count: int = 0
    first_occurred_at: datetime | None = None
    last_key: EventKey | None = field(default=None)

    @property
    def in_organisation(self) -> bool:
        return self.status is Status.IN_USE


def _certified_on(event: Purchased) -> tuple[str, ...]:
    """Schemes whose certificate is valid on the purchase date, taken in UTC.

    UTC, not the producer's offset: the event log keeps instants (timestamptz), so a refold
    from it only knows the UTC date, and every KPI period is a UTC month too. With the local
    date, a purchase at 00:30+01:00 on 1 January was certified or not depending on whether a
    late event forced a refold (docs/methodology.md, "Certification share").
    """
    day: date = event.occurred_at.astimezone(UTC).date()
    return tuple(
        sorted(
            {
                c.scheme.value
                for c in event.payload.certifications
                if c.valid_until is None or c.valid_until >= day
            }
        )
    )


_FIELD_NAMES = tuple(f.name for f in fields(AssetState))
Changes = dict[str, Any]


def _compile_copy(target: type, with_changes: bool = False) -> Any:
    """A straight-line copy of every field of a state (or draft) into a new ``target``,
    through the slots' own setters (frozen dataclasses refuse ``setattr``); ``with_changes``
    then sets the given fields. ``dataclasses.replace`` was a third of the writer's CPU, a
    loop over the fields 6 us per copy; this copy ~2 us."""
    lines = [f"def _copy(obj{', changes' if with_changes else ''}):", "    new = _new(_Target)"]
    lines += [f"    _set_{name}(new, obj.{name})" for name in _FIELD_NAMES]
    if with_changes:
        lines += ["    for name, value in changes.items():", "        _setters[name](new, value)"]
    lines += ["    return new"]
    setters = {name: getattr(target, name).__set__ for name in _FIELD_NAMES}
    namespace: dict[str, Any] = {
        **{f"_set_{name}": setter for name, setter in setters.items()},
        "_setters": setters,
        "_new": object.__new__,
        "_Target": target,
    }
    exec("\n".join(lines), namespace)  # code built from our own field names only
    return namespace["_copy"]


class _Draft:
    """A state being folded over several events: AssetState's fields, mutable. ``_with``
    copies all 37 fields per event; a fold of n events through a draft copies twice (in and
    out) and sets only the fields each event changes (~4). Profiled on the sample fleet's
    rebuild path (~10 events per asset): ``_with`` was the largest single entry; the fold went
    from 12.1 to 8.4 us per event (three alternating pairs)."""

    __slots__ = _FIELD_NAMES


# one event: a new frozen state with its changes; several: a draft, copied in once
_with: Callable[[AssetState, Changes], AssetState] = _compile_copy(AssetState, with_changes=True)
_draft_of: Callable[[AssetState], _Draft] = _compile_copy(_Draft)


def _frozen(draft: _Draft) -> AssetState:
    """The finished draft becomes the state itself: both classes have exactly the same slots
    (AssetState's fields), so CPython lets the object change class, and the draft is not
    used after. Copying the 37 fields out took ~2 us an asset (the live writer folds ~3 events
    an asset a batch); this ~0.1 us. A layout that drifts apart fails here on the first fold
    (TypeError), never silently."""
    draft.__class__ = AssetState  # type: ignore[assignment]
    return cast(AssetState, draft)


def _anomaly(
    state: AssetState, event: LifecycleEvent, kind: AnomalyKind, reason: str | None = None
) -> Changes:
    found = Anomaly(str(event.event_id), event.event_type, event.occurred_at, kind, reason)
    return {
        "anomaly_count": state.anomaly_count + 1,
        "anomalies": (*state.anomalies, found)[-MAX_ANOMALIES_KEPT:],
    }


def _end_of_use(state: AssetState, event: LifecycleEvent, reason: str) -> Changes:
    if state.ended_at is not None:
        return {}
    return {"ended_at": event.occurred_at, "end_reason": reason}


def apply(state: AssetState | None, event: LifecycleEvent) -> AssetState:
    """Fold one event into the state. Callers keep canonical order (see :func:`fold`)."""
    return _apply(state, event, event_key(event))


_BLANK = AssetState(tenant_id="", asset_id="")


def _first_seen_draft(event: LifecycleEvent) -> _Draft:
    """The state of an asset before its first event, as a draft: a fold of several events
    starts here without building a frozen state first (AssetState's ``__init__`` with its 37
    fields cost ~3.5 us an asset)."""
    draft = _draft_of(_BLANK)
    draft.tenant_id = event.tenant_id  # type: ignore[attr-defined]
    draft.asset_id = event.asset_id  # type: ignore[attr-defined]
    draft.incomplete_history = type(event) is not Purchased  # type: ignore[attr-defined]
    draft.first_occurred_at = event.occurred_at  # type: ignore[attr-defined]
    return draft


def _first_seen(event: LifecycleEvent) -> AssetState:
    return _frozen(_first_seen_draft(event))


def _apply(state: AssetState | None, event: LifecycleEvent, key: EventKey) -> AssetState:
    if state is None:
        state = _first_seen(event)
    changes: Changes = {"event_count": state.event_count + 1, "last_key": key}
    changes.update(_changes(state, event))
    return _with(state, changes)


def _apply_to_draft(draft: _Draft, event: LifecycleEvent) -> None:
    """What ``_apply`` does, in place: the event's changes are worked out on the state as it
    was before it (as ``_apply`` does), then set. ``last_key`` is the caller's to set, once."""
    # a draft has exactly AssetState's fields (its slots are made from them), so the pure
    # rules read it as they read a state
    changes = _changes(cast(AssetState, draft), event)
    draft.event_count += 1  # type: ignore[attr-defined]
    for name, value in changes.items():
        setattr(draft, name, value)


def _offers(state: AssetState, event: LifecycleEvent) -> Changes:
    """The marketplace's part of an applied event, or the anomaly of a refused one."""
    try:
        offers = marketplace.apply(state.offers, event, state.status is Status.IN_USE)
    except marketplace.Rejected as exc:
        return _anomaly(state, event, AnomalyKind.REJECTED_TRANSITION, str(exc))
    return {"offers": offers} if offers != state.offers else {}


def _closing(state: AssetState, event: LifecycleEvent) -> Changes:
    """The marketplace's part of an event that closes an open offer (redeployed, taken back,
    recycled): nothing without offers, as ``marketplace.apply`` returns them unchanged then,
    and nearly every asset has none (~1 us a closing event)."""
    return _offers(state, event) if state.offers else {}


# Events are matched by exact type, not isinstance: pydantic's model metaclass is an ABCMeta,
# whose isinstance check was 4 % of the writer's CPU in the chain below (profiled).
_MARKETPLACE_EVENTS = (OfferedForReuse, Reserved, ReservationReleased, OfferWithdrawn)


def _changes(state: AssetState, event: LifecycleEvent) -> Changes:
    if state.status is Status.RECYCLED:
        return _anomaly(state, event, AnomalyKind.AFTER_RECYCLED)

    ended = state.status in (Status.TAKEN_BACK, Status.REFURBISHED)

    if type(event) is Purchased:
        if state.purchased_at is not None:
            return _anomaly(state, event, AnomalyKind.REPEATED_PURCHASE)
        p = event.payload
        return {
            "status": state.status or Status.IN_USE,
            "category": p.category.value,
            "manufacturer": p.manufacturer,
            "model": p.model,
            "serial": p.serial,
            "supplier": p.supplier,
            "condition": p.condition.value,
            "org_unit": state.org_unit if state.status else p.org_unit,
            "purchase_org_unit": p.org_unit,
            "purchased_at": event.occurred_at,
            "certifications": _certified_on(event),
            "product_carbon_footprint_kg_co2e": p.product_carbon_footprint_kg_co2e,
            "weight_kg": p.weight_kg if p.weight_kg is not None else state.weight_kg,
        }
    if type(event) is Repaired:
        if ended:
            return _anomaly(state, event, AnomalyKind.AFTER_END_OF_USE)
        return {"status": Status.IN_USE, "repair_count": state.repair_count + 1}
    if type(event) is Redeployed:
        if ended:
            return _anomaly(state, event, AnomalyKind.AFTER_END_OF_USE)
        return {
            **_closing(state, event),  # the hand-over of an open offer
            "status": Status.IN_USE,
            "org_unit": event.payload.to_org_unit,
            "redeploy_count": state.redeploy_count + 1,
        }
    if type(event) in _MARKETPLACE_EVENTS:
        return _offers(state, event)
    if type(event) is TakenBack:
        return {
            **_closing(state, event),  # closes an open offer
            **_end_of_use(state, event, f"taken_back:{event.payload.channel.value}"),
            "status": Status.TAKEN_BACK,
            "taken_back_at": state.taken_back_at or event.occurred_at,
        }
    if type(event) is Refurbished:
        # Refurbished while still the organisation's is an internal refurbishment: still in use.
        outside = ended or state.status is None
        changes: Changes = {
            "status": Status.REFURBISHED if outside else Status.IN_USE,
            "refurbish_count": state.refurbish_count + 1,
            "refurbished_at": event.occurred_at,
        }
        if state.second_life_at is None and outside and state.ended_at is not None:
            # The second life starts at the first refurbishment after the end of use, and its
            # figures (R for the reuse saving) come from that event alone: a later pass must
            # not change a month already reported.
            changes["second_life_at"] = event.occurred_at
            changes["refurbishment_footprint_kg_co2e"] = (
                event.payload.refurbishment_footprint_kg_co2e
            )
        return changes
    if type(event) is Recycled:
        return {
            **_closing(state, event),  # closes an open offer
            **_end_of_use(state, event, "recycled"),
            "status": Status.RECYCLED,
            "recycled_at": event.occurred_at,
            "recycled_inside_eu_eea": event.payload.inside_eu_eea,
            "weight_kg": event.payload.weight_kg
            if event.payload.weight_kg is not None
            else state.weight_kg,
        }
    raise TypeError(f"unknown event type {type(event).__name__}")  # pragma: no cover


def fold(events: Iterable[LifecycleEvent], state: AssetState | None = None) -> AssetState | None:
    """Fold events (any order) into ``state`` in canonical order. Events are sorted by
    ``_order`` and only the last one's ``event_key`` is made (the sample fleet's histories,
    ~10 events, best of 7, two alternating pairs: 5.59 / 5.62 -> 4.62 / 4.54 us per event
    with ``_first_seen_draft``). Two or more events go through one mutable
    draft (``_Draft``); one event is one copy either way."""
    ordered = sorted([(_order(e), e) for e in events], key=_by_order)
    if len(ordered) < 2:
        for _, event in ordered:
            state = _apply(state, event, event_key(event))
        return state
    draft = _draft_of(state) if state is not None else _first_seen_draft(ordered[0][1])
    for _, event in ordered:
        _apply_to_draft(draft, event)
    draft.last_key = event_key(ordered[-1][1])  # type: ignore[attr-defined]
    return _frozen(draft)


def _by_order(
    item: tuple[tuple[datetime, int, UUID], LifecycleEvent],
) -> tuple[datetime, int, UUID]:
    return item[0]


def needs_refold(state: AssetState | None, new_events: Iterable[LifecycleEvent]) -> bool:
    """True when a new event sorts before what the state has seen: replay the full history."""
    if state is None or state.last_key is None:
        return False
    last = state.last_key
    # the instant decides unless it is the same one: the full key only then
    return any(
        e.occurred_at < last[0] or (e.occurred_at == last[0] and event_key(e) < last)
        for e in new_events
    )


def fold_all(events: Iterable[LifecycleEvent]) -> dict[tuple[str, str], AssetState]:
    """Fold a whole event log into one state per (tenant, asset). The reference for tests."""
    by_asset: dict[tuple[str, str], list[LifecycleEvent]] = {}
    for event in events:
        by_asset.setdefault((event.tenant_id, event.asset_id), []).append(event)
    out: dict[tuple[str, str], AssetState] = {}
    for key, history in by_asset.items():
        folded = fold(history)
        assert folded is not None
        out[key] = folded
    return out
