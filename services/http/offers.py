"""``/v1/tenants/{tenant}/offers``: the internal re-use marketplace (docs/methodology.md,
"Internal re-use marketplace").

Reads list open offers and the marketplace's KPIs from the projection. Each command - offer,
reserve, release, withdraw, hand over - is a tenant-key call that checks the projection, then
produces one event through the same publisher as the gateway; the worker folds it like any
other, so duplicates, late events and several workers change nothing. ``request_id`` is the
event's id: a retried command is carried out once. A reservation that loses to another gets 409
naming the holder's org unit (never a person).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from events.codec import InvalidEvent, decode_object
from events.models import CURRENT_SCHEMA_VERSION, AssetId, Name, OfferCondition
from projections import marketplace
from projections.marketplace import Offer
from projections.postgres import commands, reads
from projections.postgres import offers as claims
from projections.postgres.connection import Connection
from services.http.auth import TenantCaller
from services.http.ingest import Rejected
from services.http.params import (
    READ_RESPONSES,
    FilterValue,
    Month,
    TenantPath,
    month_start,
    pool_of,
)
from services.intake.publisher import Publisher
from services.reports.marketplace import marketplace_kpis

log = structlog.get_logger(__name__)
Handler = TypeVar("Handler", bound=Callable[..., Coroutine[Any, Any, Any]])


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: UUID = Field(
        description="Chosen by the client, new for each command: the event's id. Sending the "
        "same request again is safe: it is carried out once."
    )


class OfferCommand(_Command):
    asset_id: AssetId
    org_unit: Name = Field(description="The org unit offering the device.")
    condition: OfferCondition
    includes: Annotated[list[Name], Field(max_length=20)] = []
    location: Name | None = None
    available_until: date | None = None


class ReservationCommand(_Command):
    org_unit: Name = Field(description="The org unit reserving, or releasing its reservation.")


class WithdrawCommand(_Command):
    reason: Name | None = None


class HandOverCommand(_Command):
    pass


class CommandAccepted(BaseModel):
    event_id: str
    event_type: str
    offer_id: str
    asset_id: str


class Conflict(BaseModel):
    detail: str
    holder_org_unit: str | None = Field(
        default=None, description="The org unit that holds the offer (never a person)."
    )


class ListedOffer(BaseModel):
    offer_id: str
    asset_id: str
    category: str | None
    age_years: float | None
    org_unit: str
    condition: str
    includes: list[str]
    location: str | None
    available_until: str | None
    offered_at: str
    days_on_offer: float
    status: str = Field(description="open, reserved, handed_over, withdrawn, taken_back, recycled")
    holder_org_unit: str | None
    queue: list[str] = Field(description="Org units queued behind the holder (topic path).")
    closed_at: str | None
    outcome: str | None
    handed_to: str | None


class OfferList(BaseModel):
    tenant_id: str
    as_of: datetime
    offers: list[ListedOffer]


class MarketplaceKpis(BaseModel):
    tenant_id: str
    from_month: str
    to_month: str
    internal_reuse_share: float | None = Field(
        description="Devices that got a second internal user before their use ended / devices "
        "whose use ended in the period."
    )
    ended_assets: int
    offers_open_now: int
    offers_handed_over: int
    median_days_on_offer: float | None
    offers_withdrawn: int
    offers_expired_unused: int
    expired_unused_devices_now: dict[str, int] = Field(
        description="Where the devices of offers nobody took are now."
    )


COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    404: {"model": Rejected, "description": "No open offer with this id"},
    409: {"model": Conflict, "description": "The offer is held by another org unit, or open"},
    422: {"model": Rejected, "description": "Impossible transition or malformed body, named"},
    503: {
        "model": Rejected,
        "description": "The broker did not acknowledge the command; send it again",
    },
}


def _accepted(event: dict[str, Any], offer_id: str) -> JSONResponse:
    body = CommandAccepted(
        event_id=event["event_id"],
        event_type=event["event_type"],
        offer_id=offer_id,
        asset_id=event["asset_id"],
    )
    return JSONResponse(status_code=202, content=body.model_dump())


class OfferConflict(Exception):
    """409 in the documented ``Conflict`` shape (``offer_conflict`` answers it); raised inside
    a claim's transaction, it rolls the claim back on its way out."""

    def __init__(self, detail: str, holder: str | None = None) -> None:
        super().__init__(detail)
        self.body = Conflict(detail=detail, holder_org_unit=holder)


async def offer_conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OfferConflict)
    return JSONResponse(status_code=409, content=exc.body.model_dump())


def _conflict(detail: str, holder: str | None = None) -> OfferConflict:
    return OfferConflict(detail, holder)


async def _open_offer(conn: Connection, tenant_id: str, offer_id: UUID) -> tuple[str, Offer]:
    for asset in await reads.marketplace_assets(conn, tenant_id, str(offer_id)):
        for offer in asset.offers:
            if offer.offer_id == str(offer_id) and offer.is_open:
                return asset.asset_id, offer
    raise HTTPException(
        404,
        detail=f"offer_id: no open offer {offer_id} (an offer is listed once the worker has "
        "applied it, within about a second)",
    )


def offers_router(publisher: Publisher) -> APIRouter:
    router = APIRouter(tags=["marketplace"])

    def command(path: str) -> Callable[[Handler], Handler]:
        """A command route: 202 with the event produced, or a documented 4xx/503."""
        return router.post(
            path, status_code=202, response_model=CommandAccepted, responses=COMMAND_RESPONSES
        )

    async def first_sent(
        conn: Connection, tenant_id: str, asset_id: str, kind: str, request_id: UUID, payload: Any
    ) -> commands.FirstSent:
        """When this command was first sent: its event's ``occurred_at``, the same in every
        retry (``projections.postgres.commands``). 409 if the request_id was first sent with
        another command."""
        sent = await commands.first_sent(
            conn,
            tenant_id,
            str(request_id),
            _fingerprint(kind, asset_id, payload),
            datetime.now(UTC),
        )
        if sent is None:
            raise _conflict(
                f"request_id: {request_id} was already sent with another command; a new "
                "command needs a new request_id"
            )
        return sent

    async def produce(
        tenant_id: str,
        asset_id: str,
        kind: str,
        request_id: UUID,
        payload: Any,
        source: str,
        occurred_at: datetime,
    ) -> dict[str, Any]:
        event = {
            "event_id": str(request_id),
            "event_type": kind,
            "schema_version": CURRENT_SCHEMA_VERSION,
            "tenant_id": tenant_id,
            "asset_id": asset_id,
            "occurred_at": occurred_at.isoformat(),
            "source": source,
            "payload": payload,
        }
        try:
            validated = decode_object(event)
        except InvalidEvent as exc:
            raise HTTPException(422, detail=exc.message) from None
        try:
            await publisher.publish([validated])
        except (KafkaError, OSError) as exc:
            log.error("broker unavailable", error=repr(exc))
            raise HTTPException(
                503,
                detail="the event broker did not acknowledge the command; send it again with the "
                "same request_id (it is carried out once)",
                headers={"Retry-After": "5"},
            ) from None
        log.info(
            "marketplace command", event_type=kind, asset_id=asset_id, event_id=str(request_id)
        )
        return event

    @router.get(
        "/v1/tenants/{tenant_id}/offers", response_model=OfferList, responses=READ_RESPONSES
    )
    async def list_offers(
        request: Request,
        tenant_id: TenantPath,
        key: TenantCaller,
        category: FilterValue = None,
        condition: OfferCondition | None = None,
        org_unit: FilterValue = None,
        closed: Annotated[bool, Query(description="also list closed offers")] = False,
    ) -> OfferList:
        """Open offers (and reserved ones) of the tenant, newest first: category, age,
        condition, offering org unit, days on offer."""
        now = datetime.now(UTC)
        async with pool_of(request).acquire() as conn:
            assets = await reads.marketplace_assets(conn, tenant_id)
        listed = [
            marketplace.listing(a, o, now)
            for a in assets
            for o in a.offers
            if (closed or o.is_open)
            and (category is None or a.category == category)
            and (condition is None or o.condition == condition.value)
            and (org_unit is None or o.org_unit == org_unit)
        ]
        listed.sort(key=lambda o: (o["offered_at"], o["offer_id"]), reverse=True)
        return OfferList.model_validate({"tenant_id": tenant_id, "as_of": now, "offers": listed})

    @router.get(
        "/v1/tenants/{tenant_id}/offers/kpis",
        response_model=MarketplaceKpis,
        responses=READ_RESPONSES,
    )
    async def offer_kpis(
        request: Request,
        tenant_id: TenantPath,
        key: TenantCaller,
        from_month: Annotated[Month, Query(alias="from")],
        to_month: Annotated[Month, Query(alias="to")],
    ) -> MarketplaceKpis:
        """Internal re-use share of devices whose use ended in the months ``from``..``to``;
        offers handed over, withdrawn and expired unused in them, median days on offer."""
        first, last = month_start(from_month), month_start(to_month)
        if last < first:
            raise HTTPException(422, detail="to: must not be before from")
        async with pool_of(request).acquire() as conn:
            figures = await marketplace_kpis(conn, tenant_id, first, last, datetime.now(UTC))
        return MarketplaceKpis.model_validate(
            {**figures, "from_month": from_month, "to_month": to_month}
        )

    @command("/v1/tenants/{tenant_id}/offers")
    async def offer(
        request: Request, tenant_id: TenantPath, key: TenantCaller, body: OfferCommand
    ) -> Any:
        """Offer a device in use to other org units. 422 if the asset is not in use (or
        unknown), 409 if it already has an open offer."""
        async with pool_of(request).acquire() as conn:
            if await reads.event_recorded(conn, str(body.request_id)):
                return _accepted(
                    _replayed(tenant_id, body, "offered_for_reuse"), str(body.request_id)
                )
            status = await reads.asset_status(conn, tenant_id, body.asset_id)
            if status is False:
                raise HTTPException(422, detail="asset_id: kretslopp has no record of this asset")
            if status != "in_use":
                raise HTTPException(
                    422, detail=f"asset_id: only an asset in use can be offered (it is {status})"
                )
            for asset in await reads.marketplace_assets(conn, tenant_id, asset_id=body.asset_id):
                for current in asset.offers:
                    if current.is_open:
                        raise _conflict(
                            f"asset_id: offer {current.offer_id} by {current.org_unit} is "
                            "already open",
                            current.holder.org_unit if current.holder else None,
                        )
            payload = body.model_dump(
                mode="json", exclude={"request_id", "asset_id"}, exclude_none=True
            )
            at = (
                await first_sent(
                    conn, tenant_id, body.asset_id, "offered_for_reuse", body.request_id, payload
                )
            ).at
        event = await produce(
            tenant_id, body.asset_id, "offered_for_reuse", body.request_id, payload, key.source, at
        )
        return _accepted(event, str(body.request_id))

    @command("/v1/tenants/{tenant_id}/offers/{offer_id}/reserve")
    async def reserve(
        request: Request,
        tenant_id: TenantPath,
        offer_id: UUID,
        key: TenantCaller,
        body: ReservationCommand,
    ) -> Any:
        """Reserve an open offer for an org unit. The first reservation holds it; another one
        gets 409 naming the holder's org unit."""
        async with pool_of(request).acquire() as conn:
            asset_id, current = await _open_offer(conn, tenant_id, offer_id)
            if body.org_unit == current.org_unit:
                raise HTTPException(
                    422, detail="org_unit: an org unit cannot reserve its own offer"
                )
            payload = {"offer_id": str(offer_id), "org_unit": body.org_unit}
            sent = await first_sent(conn, tenant_id, asset_id, "reserved", body.request_id, payload)
            try:
                async with conn.transaction():
                    taken = await claims.claim(
                        conn, tenant_id, str(offer_id), body.org_unit, str(body.request_id)
                    )
                    if taken is not None and taken[1] != str(body.request_id):
                        raise _conflict(f"offer {offer_id} is reserved by {taken[0]}", taken[0])
                    held = current.holder.org_unit if current.holder else None
                    if held is not None and held != body.org_unit:
                        raise _conflict(f"offer {offer_id} is reserved by {held}", held)
                    event = await produce(
                        tenant_id,
                        asset_id,
                        "reserved",
                        body.request_id,
                        payload,
                        key.source,
                        sent.at,
                    )
            except OfferConflict:
                if sent.now:  # refused before anything was produced
                    await commands.forget(conn, tenant_id, str(body.request_id))
                raise
        return _accepted(event, str(offer_id))

    @command("/v1/tenants/{tenant_id}/offers/{offer_id}/release")
    async def release(
        request: Request,
        tenant_id: TenantPath,
        offer_id: UUID,
        key: TenantCaller,
        body: ReservationCommand,
    ) -> Any:
        """End an org unit's reservation; the offer is open again (409 if the unit holds none)."""
        async with pool_of(request).acquire() as conn:
            asset_id, current = await _open_offer(conn, tenant_id, offer_id)
            claimed = await claims.holder(conn, tenant_id, str(offer_id))
            units = {claimed, *(r.org_unit for r in (current.holder, *current.queue) if r)}
            if body.org_unit not in units:
                raise _conflict(
                    f"{body.org_unit} has no reservation on offer {offer_id}",
                    claimed or (current.holder.org_unit if current.holder else None),
                )
            payload = {"offer_id": str(offer_id), "org_unit": body.org_unit}
            at = (
                await first_sent(
                    conn, tenant_id, asset_id, "reservation_released", body.request_id, payload
                )
            ).at
            async with conn.transaction():
                if claimed == body.org_unit:
                    await claims.unclaim(conn, tenant_id, str(offer_id))
                event = await produce(
                    tenant_id,
                    asset_id,
                    "reservation_released",
                    body.request_id,
                    payload,
                    key.source,
                    at,
                )
        return _accepted(event, str(offer_id))

    @command("/v1/tenants/{tenant_id}/offers/{offer_id}/withdraw")
    async def withdraw(
        request: Request,
        tenant_id: TenantPath,
        offer_id: UUID,
        key: TenantCaller,
        body: WithdrawCommand,
    ) -> Any:
        """Withdraw an open offer (its reservations end with it)."""
        async with pool_of(request).acquire() as conn:
            asset_id, _ = await _open_offer(conn, tenant_id, offer_id)
            payload = {"offer_id": str(offer_id)}
            if body.reason:
                payload["reason"] = body.reason
            at = (
                await first_sent(
                    conn, tenant_id, asset_id, "offer_withdrawn", body.request_id, payload
                )
            ).at
            async with conn.transaction():
                await claims.unclaim(conn, tenant_id, str(offer_id))
                event = await produce(
                    tenant_id, asset_id, "offer_withdrawn", body.request_id, payload, key.source, at
                )
        return _accepted(event, str(offer_id))

    @command("/v1/tenants/{tenant_id}/offers/{offer_id}/handover")
    async def hand_over(
        request: Request,
        tenant_id: TenantPath,
        offer_id: UUID,
        key: TenantCaller,
        body: HandOverCommand,
    ) -> Any:
        """Hand the device to the org unit holding the reservation: a ``redeployed`` event
        to that unit (409 if nobody holds one)."""
        async with pool_of(request).acquire() as conn:
            asset_id, current = await _open_offer(conn, tenant_id, offer_id)
            to_unit = await claims.holder(conn, tenant_id, str(offer_id))
            to_unit = to_unit or (current.holder.org_unit if current.holder else None)
            if to_unit is None:
                raise _conflict(f"offer {offer_id} has no reservation to hand over to")
            payload = {"to_org_unit": to_unit}
            at = (
                await first_sent(conn, tenant_id, asset_id, "redeployed", body.request_id, payload)
            ).at
            async with conn.transaction():
                await claims.unclaim(conn, tenant_id, str(offer_id))
                event = await produce(
                    tenant_id, asset_id, "redeployed", body.request_id, payload, key.source, at
                )
        return _accepted(event, str(offer_id))

    return router


def _fingerprint(kind: str, asset_id: str, payload: Any) -> str:
    """What a command is, apart from when: two sends of one command give the same."""
    return hashlib.sha256(
        orjson.dumps([kind, asset_id, payload], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _replayed(tenant_id: str, body: OfferCommand, kind: str) -> dict[str, Any]:
    return {"event_id": str(body.request_id), "event_type": kind, "asset_id": body.asset_id}
