"""The canonical lifecycle-event contract (``docs/methodology.md``, "Lifecycle events and
states").

Six lifecycle event types, one per real-world fact, and the four of the internal re-use
marketplace, each an envelope plus a typed payload. Models are
frozen and strict about what they accept, because every event is evidence that ends up in a
CSRD statement: a value we cannot trust is rejected with the field named, never coerced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# 2: optional functional tests, data-erasure certificates, compensation paid to the buyer and
# the EU/EEA place of reuse (the 11180:1 take-back report), and the four events of the internal
# re-use marketplace. Version-1 events stay valid: events/upcasting.py brings them up
# (docs/methodology.md, "Contract versions").
CURRENT_SCHEMA_VERSION = 2

# No control characters in ids, names and references: PostgreSQL text cannot hold NUL, and
# control characters in ids break logs and CSV exports. pydantic-core checks the pattern with
# its own regex engine; a Python validator called back for every string cost ~1.7 of the
# ~19 us a stored event took to validate (sample fleet, two alternating pairs). The JSON Schema
# carries the same pattern, so generated clients and API fuzzers (schemathesis, in the suite)
# see the rule; ``codec.reason_of`` words its error for producers.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
CONTROL_CHARS_REASON = "must not contain control characters"
# the same for an id or filter value in a URL, which must not be empty either
NON_EMPTY_NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]+$"
NON_EMPTY_NO_CONTROL_CHARS_REASON = "must be non-empty, without control characters"
_CLEAN = Field(pattern=NO_CONTROL_CHARS)

# The valid range of occurred_at (docs/methodology.md, "Valid instants"). A device lifecycle
# event before the first PCs were bought by organisations, or more than a day ahead of the
# clock (allowing for skew), is a data error. Unbounded instants were stored as -infinity /
# infinity by PostgreSQL and then broke rebuilds and reports. The upper bound only moves
# forwards, so an event accepted once is accepted again on replay or rebuild.
EARLIEST_OCCURRED_AT = datetime(1980, 1, 1, tzinfo=UTC)
MAX_AHEAD_OF_NOW = timedelta(days=1)


class _LatestBound:
    """The highest upper bound (clock + one day) computed so far. An instant at or below it is
    within the bound now too, since the clock's bound only grows; only an instant above it
    reads the clock again. Exact, and the clock read (~1.4 us, every event decoded by the
    gateway, the worker and the rebuild) is gone from the common case."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = datetime.now(UTC) + MAX_AHEAD_OF_NOW

    def admits(self, utc: datetime) -> bool:
        if utc <= self.value:
            return True
        self.value = max(self.value, datetime.now(UTC) + MAX_AHEAD_OF_NOW)
        return utc <= self.value


_LATEST_BOUND = _LatestBound()


def _plausible_instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 or 0001-01-01T00:30+01:00
        utc = None
    too_early = value.year < 2000 if utc is None else utc < EARLIEST_OCCURRED_AT
    if too_early:
        raise ValueError("must not be before 1980-01-01T00:00:00Z")
    if utc is None or not _LATEST_BOUND.admits(utc):
        raise ValueError("must not be more than one day in the future")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_plausible_instant)]
TenantId = Annotated[str, Field(min_length=1, max_length=128), _CLEAN]
AssetId = Annotated[str, Field(min_length=1, max_length=256), _CLEAN]
Name = Annotated[str, Field(min_length=1, max_length=200), _CLEAN]
Reference = Annotated[str, Field(min_length=1, max_length=200), _CLEAN]
ShortText = Annotated[str, Field(min_length=1, max_length=64), _CLEAN]
KgCo2e = Annotated[float, Field(ge=0, allow_inf_nan=False, le=1_000_000)]
Kg = Annotated[float, Field(ge=0, allow_inf_nan=False, le=100_000)]


class Category(StrEnum):
    """Device categories that have default embodied-carbon factors in ``docs/methodology.md``."""

    LAPTOP = "laptop"
    DESKTOP = "desktop"
    MONITOR = "monitor"
    SMARTPHONE = "smartphone"
    TABLET = "tablet"
    SERVER = "server"


class Condition(StrEnum):
    NEW = "new"
    REFURBISHED = "refurbished"


class CertificationScheme(StrEnum):
    """Recognised sustainability certifications (``docs/methodology.md``, KPI definitions)."""

    TCO_CERTIFIED = "tco_certified"
    EPEAT = "epeat"
    ENERGY_STAR = "energy_star"
    EU_ECOLABEL = "eu_ecolabel"
    NORDIC_SWAN = "nordic_swan"
    BLUE_ANGEL = "blue_angel"


class TakeBackChannel(StrEnum):
    RESALE = "resale"
    REFURBISHMENT = "refurbishment"
    DONATION = "donation"
    RECYCLING = "recycling"


class OfferCondition(StrEnum):
    """The condition an org unit declares when it offers a device for internal re-use."""

    AS_NEW = "as_new"
    GOOD = "good"
    FAIR = "fair"
    WORN = "worn"


class RepairKind(StrEnum):
    REPAIR = "repair"
    UPGRADE = "upgrade"


class TestResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Money(_Strict):
    amount: Annotated[float, Field(ge=0, allow_inf_nan=False, le=1e12)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. SEK")]


class Certification(_Strict):
    scheme: CertificationScheme
    generation: ShortText | None = Field(
        default=None, description="Generation or tier, e.g. 'Generation 9' or 'Gold'."
    )
    valid_until: date | None = Field(
        default=None, description="Last day the certificate is valid; absent means no end date."
    )


class FunctionalTest(_Strict):
    """A functional test of the device (schema_version 2): at take-back (intake) or during
    refurbishment (preparation for reuse)."""

    result: TestResult
    report_reference: Reference | None = Field(
        default=None, description="The test report's id at the tester, e.g. an ITAD's job id."
    )


# --- payloads -------------------------------------------------------------------------------


class PurchasedPayload(_Strict):
    category: Category
    manufacturer: Name
    model: Name
    serial: Reference | None = None
    supplier: Name
    condition: Condition = Condition.NEW
    certifications: Annotated[list[Certification], Field(max_length=20)] = []
    product_carbon_footprint_kg_co2e: KgCo2e | None = Field(
        default=None,
        description="Cradle-to-gate footprint published by the maker (primary data), if any.",
    )
    weight_kg: Kg | None = None
    price: Money | None = None
    warranty_months: Annotated[int, Field(ge=0, le=240)] | None = None
    org_unit: Name | None = None


class RepairedPayload(_Strict):
    kind: RepairKind = RepairKind.REPAIR
    parts: Annotated[list[Name], Field(max_length=50)] = []
    cost: Money | None = None
    repair_footprint_kg_co2e: KgCo2e | None = None


class RedeployedPayload(_Strict):
    to_org_unit: Name


class TakenBackPayload(_Strict):
    counterparty: Name
    channel: TakeBackChannel
    certificate_reference: Reference | None = None
    # schema_version 2
    data_erasure_certificate_reference: Reference | None = Field(
        default=None, description="The certificate of data erasure (or destruction) of the unit."
    )
    functional_test: FunctionalTest | None = Field(
        default=None, description="The functional test at intake, if one was made."
    )
    compensation: Money | None = Field(
        default=None, description="Money paid to the buyer (the organisation) for the unit."
    )
    inside_eu_eea: bool | None = Field(
        default=None, description="Whether the counterparty processes the unit inside the EU/EEA."
    )


class RefurbishedPayload(_Strict):
    refurbisher: Name
    grade: ShortText | None = None
    refurbishment_footprint_kg_co2e: KgCo2e | None = None
    # schema_version 2
    functional_test: FunctionalTest | None = Field(
        default=None, description="The functional test of the preparation for reuse."
    )
    inside_eu_eea: bool | None = Field(
        default=None, description="Whether the unit's further life (its market) is in the EU/EEA."
    )


class RecycledPayload(_Strict):
    recycler: Name
    weight_kg: Kg | None = None
    certificate_reference: Reference | None = None
    inside_eu_eea: bool
    # schema_version 2
    data_erasure_certificate_reference: Reference | None = Field(
        default=None, description="The certificate of data destruction of the unit."
    )
    compensation: Money | None = Field(
        default=None, description="Money paid to the buyer for the material recovered."
    )


class OfferedForReusePayload(_Strict):
    """An org unit offers a device it uses to other org units (schema_version 2)."""

    org_unit: Name = Field(description="The org unit offering the device.")
    condition: OfferCondition
    includes: Annotated[list[Name], Field(max_length=20)] = Field(
        default=[], description="What comes with it, e.g. a charger or a docking station."
    )
    location: Name | None = Field(default=None, description="Where the device can be fetched.")
    available_until: date | None = Field(
        default=None, description="Last day of the offer; absent means until withdrawn."
    )


class ReservedPayload(_Strict):
    """Another org unit reserves an open offer: the first reservation holds it, later ones
    queue behind it (schema_version 2)."""

    offer_id: UUID = Field(description="The event_id of the offered_for_reuse event.")
    org_unit: Name = Field(description="The org unit reserving the device.")


class ReservationReleasedPayload(_Strict):
    offer_id: UUID
    org_unit: Name = Field(description="The org unit whose reservation ends.")


class OfferWithdrawnPayload(_Strict):
    offer_id: UUID
    reason: Name | None = None


# --- events ---------------------------------------------------------------------------------


class _Envelope(_Strict):
    event_id: UUID = Field(description="Chosen by the producer; the idempotency key.")
    schema_version: Literal[2] = Field(
        default=2,
        description="2; events of version 1 are still accepted and upcast (they cannot carry "
        "the fields added in 2).",
    )
    tenant_id: TenantId
    asset_id: AssetId
    occurred_at: Instant = Field(
        description="When it happened; drives the KPIs. From 1980-01-01T00:00:00Z to one day "
        "after the time of validation."
    )
    source: Name
    recorded_at: AwareDatetime | None = Field(
        default=None,
        description="Set by kretslopp when it first stores the event; producers leave it out.",
    )


class Purchased(_Envelope):
    event_type: Literal["purchased"] = "purchased"
    payload: PurchasedPayload


class Repaired(_Envelope):
    event_type: Literal["repaired"] = "repaired"
    payload: RepairedPayload = RepairedPayload()


class Redeployed(_Envelope):
    event_type: Literal["redeployed"] = "redeployed"
    payload: RedeployedPayload


class TakenBack(_Envelope):
    event_type: Literal["taken_back"] = "taken_back"
    payload: TakenBackPayload


class Refurbished(_Envelope):
    event_type: Literal["refurbished"] = "refurbished"
    payload: RefurbishedPayload


class Recycled(_Envelope):
    event_type: Literal["recycled"] = "recycled"
    payload: RecycledPayload


class OfferedForReuse(_Envelope):
    event_type: Literal["offered_for_reuse"] = "offered_for_reuse"
    payload: OfferedForReusePayload


class Reserved(_Envelope):
    event_type: Literal["reserved"] = "reserved"
    payload: ReservedPayload


class ReservationReleased(_Envelope):
    event_type: Literal["reservation_released"] = "reservation_released"
    payload: ReservationReleasedPayload


class OfferWithdrawn(_Envelope):
    event_type: Literal["offer_withdrawn"] = "offer_withdrawn"
    payload: OfferWithdrawnPayload


LifecycleEvent = Annotated[
    Purchased
    | Repaired
    | Redeployed
    | TakenBack
    | Refurbished
    | Recycled
    | OfferedForReuse
    | Reserved
    | ReservationReleased
    | OfferWithdrawn,
    Field(discriminator="event_type"),
]

EventType = Literal[
    "purchased",
    "repaired",
    "redeployed",
    "taken_back",
    "refurbished",
    "recycled",
    "offered_for_reuse",
    "reserved",
    "reservation_released",
    "offer_withdrawn",
]

LIFECYCLE_TYPES: tuple[EventType, ...] = (
    "purchased",
    "repaired",
    "redeployed",
    "taken_back",
    "refurbished",
    "recycled",
)
"""The six facts of a device's life."""

MARKETPLACE_TYPES: tuple[EventType, ...] = (
    "offered_for_reuse",
    "reserved",
    "reservation_released",
    "offer_withdrawn",
)
"""The internal re-use marketplace (schema_version 2); the hand-over is ``redeployed``."""

EVENT_TYPES: tuple[EventType, ...] = (*LIFECYCLE_TYPES, *MARKETPLACE_TYPES)
