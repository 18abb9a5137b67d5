"""HTTP gateway: ITSM tools and suppliers that cannot speak Kafka POST events here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

import orjson
import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.http.auth import TenantCaller
from services.http.request_context import MAX_BODY_BYTES, read_body
from services.intake.adapter_store import Signal, load_settings, record_signals
from services.intake.adapters import ADAPTERS, AdapterInputError
from services.intake.adapters.base import AdapterOptions
from services.intake.publisher import Publisher
from services.intake.submission import (
    MAX_ITEMS,
    ItemError,
    Submission,
    SubmissionError,
    parse_body,
    validate_body,
    validate_items,
)

log = structlog.get_logger(__name__)


class Accepted(BaseModel):
    accepted: int
    event_ids: list[str]
    repeated_in_request: int


class InvalidItem(BaseModel):
    index: int | None = Field(
        default=None, description="Position in the request's array; null for a parameter."
    )
    event_id: str | None = None
    field: str = Field(description="Path of the field at fault, e.g. payload.category or from.")
    reason: str


class Rejected(BaseModel):
    """Every 4xx and 503 answer of the API has this shape."""

    detail: str
    errors: list[InvalidItem] = []


EVENT_BODY_DOC = {
    "description": f"One event (object) or up to {MAX_ITEMS} events (array), in the canonical "
    f"contract (`kretslopp schema`). At most {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventOrBatch"}}},
}


def items_rejected(errors: list[ItemError], what: str) -> JSONResponse:
    """422 naming every item at fault; a batch is all or nothing."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": f"{len({e.index for e in errors})} {what}; nothing was accepted",
            "errors": [asdict(e) for e in errors],
        },
    )


async def submit(publisher: Publisher, submission: Submission, source: str) -> JSONResponse:
    """Produce an all-valid submission; 422 with every invalid item otherwise."""
    if submission.errors:
        return items_rejected(submission.errors, "invalid event(s)")
    try:
        await publisher.publish(submission.events)
    except (KafkaError, OSError) as exc:
        log.error("broker unavailable", error=repr(exc))
        return JSONResponse(
            status_code=503,
            content={
                "detail": "the event broker did not acknowledge the batch; send it again "
                "(an event of it that did reach the topic counts once: event_id)"
            },
            headers={"Retry-After": "5"},
        )
    ids = [str(e.event_id) for e in submission.events]
    log.info("events accepted", count=len(ids), source=source)
    return JSONResponse(
        status_code=202,
        content=Accepted(
            accepted=len(ids), event_ids=ids, repeated_in_request=submission.repeated
        ).model_dump(),
    )


class Unmapped(BaseModel):
    index: int
    reason: str
    lifecycle_signal: bool = Field(
        default=False,
        description="A status or substate change that maps to no event: kept for review "
        "(`kretslopp adapters unmapped`) and counted in status.",
    )


class AdapterAccepted(Accepted):
    unmapped: list[Unmapped]


Tool = Literal["servicenow", "snipe-it", "glpi"]


@dataclass
class MappedPayloads:
    """Adapter output for one request: events with the index of the payload each came from
    (so an invalid event is reported at its position in the request), unmapped changes (the
    lifecycle signals among them kept apart) and payloads that could not be read."""

    events: list[dict[str, Any]] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


def map_payloads(
    tool: str, tenant_id: str, payloads: list[Any], options: AdapterOptions | None = None
) -> MappedPayloads:
    options = options or AdapterOptions()
    out = MappedPayloads()
    for index, payload in enumerate(payloads):
        if not isinstance(payload, dict):
            out.errors.append(ItemError(index, None, "", "each payload must be a JSON object"))
            continue
        try:
            mapping = ADAPTERS[tool](tenant_id, payload, options)
        except AdapterInputError as exc:
            out.errors.append(ItemError(index, None, exc.field, exc.reason))
            continue
        except Exception as exc:  # a shape no adapter test foresaw: a 422, never a 500
            log.error("adapter could not read a payload", tool=tool, index=index, error=repr(exc))
            out.errors.append(
                ItemError(index, None, "", f"not a {tool} payload this adapter can read")
            )
            continue
        out.events.extend(mapping.events)
        out.origins.extend(index for _ in mapping.events)
        out.unmapped.extend(
            Unmapped(index=index, reason=r, lifecycle_signal=r in mapping.signals)
            for r in mapping.unmapped
        )
        out.signals.extend(Signal(index, mapping.asset_id, r, payload) for r in mapping.signals)
    return out


def validate_mapped(mapped: MappedPayloads, tenant_id: str) -> Submission:
    """Validate mapped events; errors name the payload's index in the request."""
    submission = validate_items(mapped.events, tenant_id, max_items=len(mapped.events) or 1)
    submission.errors = [
        ItemError(mapped.origins[e.index], e.event_id, e.field, e.reason) for e in submission.errors
    ]
    return submission


def error_response(exc: SubmissionError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"detail": exc.message, "errors": []})


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Rejected, "description": "Missing, unknown or revoked API key"},
    403: {"model": Rejected, "description": "The API key belongs to another tenant"},
    413: {"model": Rejected, "description": "Body or batch too large"},
    503: {"model": Rejected, "description": "Broker unavailable; retry"},
}


def gateway_router(publisher: Publisher) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post(
        "/v1/tenants/{tenant_id}/events",
        status_code=202,
        response_model=Accepted,
        openapi_extra={"requestBody": EVENT_BODY_DOC},
        responses={
            **COMMON_RESPONSES,
            400: {"model": Rejected, "description": "Body is not JSON, or nested too deep"},
            422: {"model": Rejected, "description": "Invalid events; each one named"},
        },
    )
    async def post_events(tenant_id: str, request: Request, key: TenantCaller) -> Any:
        """Validate with the same contract as the worker, then produce with acks=all.
        A batch is all or nothing; resending is safe (``event_id`` is the idempotency key)."""
        try:
            submission = validate_body(await read_body(request), tenant_id)
        except SubmissionError as exc:
            return error_response(exc)
        return await submit(publisher, submission, key.source)

    @router.post(
        "/v1/tenants/{tenant_id}/adapters/{tool}",
        status_code=202,
        response_model=AdapterAccepted,
        responses={
            **COMMON_RESPONSES,
            200: {"model": AdapterAccepted, "description": "Understood; nothing to map"},
            400: {"model": Rejected, "description": "Body is not JSON, or nested too deep"},
            422: {"model": Rejected, "description": "A payload is not what the tool sends"},
        },
    )
    async def post_tool_payloads(
        tenant_id: str,
        tool: Tool,
        request: Request,
        key: TenantCaller,
        itemtype: Annotated[
            str | None,
            Query(
                max_length=64,
                pattern=r"^[A-Za-z_]+$",
                description="GLPI: the webhook's item type (Computer, Monitor, Phone); GLPI's "
                "webhook body does not carry it.",
            ),
        ] = None,
    ) -> Any:
        """What ServiceNow, Snipe-IT or GLPI sends (one payload or an array), mapped to
        canonical events through the adapter's documented table and the tenant's adapter
        settings. Changes that carry no lifecycle fact are listed under ``unmapped`` with the
        reason, never guessed; those with a lifecycle signal are also kept for review."""
        try:
            payloads = parse_body(await read_body(request))
            if len(payloads) > MAX_ITEMS:
                raise SubmissionError(413, f"{len(payloads)} payloads; at most {MAX_ITEMS}")
        except SubmissionError as exc:
            return error_response(exc)
        pool = request.app.state.pool
        async with pool.acquire() as conn:
            settings = await load_settings(conn, tenant_id, tool)
        mapped = map_payloads(tool, tenant_id, payloads, AdapterOptions(settings, itemtype))
        if mapped.errors:
            return items_rejected(mapped.errors, "payload(s) could not be read")
        if not mapped.events:
            async with pool.acquire() as conn:
                await record_signals(conn, tenant_id, tool, mapped.signals)
            return JSONResponse(
                status_code=200,
                content=AdapterAccepted(
                    accepted=0, event_ids=[], repeated_in_request=0, unmapped=mapped.unmapped
                ).model_dump(),
            )
        submission = validate_mapped(mapped, tenant_id)
        response = await submit(publisher, submission, key.source)
        if response.status_code == 202:
            async with pool.acquire() as conn:
                await record_signals(conn, tenant_id, tool, mapped.signals)
            body = orjson.loads(response.body)
            body["unmapped"] = [u.model_dump() for u in mapped.unmapped]
            return JSONResponse(status_code=202, content=body)
        return response

    return router
