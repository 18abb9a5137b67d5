"""HTTP gateway: ITSM tools and suppliers that cannot speak Kafka POST events here."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.http_auth import TenantCaller
from services.ingest import MAX_ITEMS, Submission, SubmissionError, parse_body, validate_items
from services.publisher import Publisher
from services.request_context import MAX_BODY_BYTES, read_body

log = structlog.get_logger(__name__)


class Accepted(BaseModel):
    accepted: int
    event_ids: list[str]
    repeated_in_request: int


class InvalidItem(BaseModel):
    index: int
    event_id: str | None
    field: str
    reason: str


class Rejected(BaseModel):
    detail: str
    errors: list[InvalidItem] = []


EVENT_BODY_DOC = {
    "description": f"One event (object) or up to {MAX_ITEMS} events (array), in the canonical "
    f"contract (`kretslopp schema`). At most {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventOrBatch"}}},
}


async def submit(publisher: Publisher, submission: Submission, source: str) -> JSONResponse:
    """Produce an all-valid submission; 422 with every invalid item otherwise."""
    if submission.errors:
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"{len({e.index for e in submission.errors})} invalid event(s); "
                "nothing was accepted",
                "errors": [asdict(e) for e in submission.errors],
            },
        )
    try:
        await publisher.publish(submission.events)
    except (KafkaError, OSError) as exc:
        log.error("broker unavailable", error=repr(exc))
        return JSONResponse(
            status_code=503,
            content={"detail": "the event broker is unavailable; nothing was accepted, retry"},
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


def error_response(exc: SubmissionError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"detail": exc.message, "errors": []})


def gateway_router(publisher: Publisher) -> APIRouter:
    router = APIRouter(tags=["ingest"])

    @router.post(
        "/v1/tenants/{tenant_id}/events",
        status_code=202,
        response_model=Accepted,
        openapi_extra={"requestBody": EVENT_BODY_DOC},
        responses={
            400: {"model": Rejected, "description": "Body is not JSON"},
            401: {"description": "Missing, unknown or revoked API key"},
            403: {"description": "The API key belongs to another tenant"},
            413: {"model": Rejected, "description": "Body or batch too large"},
            422: {"model": Rejected, "description": "Invalid events; each one named"},
            503: {"model": Rejected, "description": "Broker unavailable; retry"},
        },
    )
    async def post_events(tenant_id: str, request: Request, key: TenantCaller) -> Any:
        """Validate with the same contract as the worker, then produce with acks=all.
        A batch is all or nothing; resending is safe (``event_id`` is the idempotency key)."""
        try:
            items = parse_body(await read_body(request))
            submission = validate_items(items, tenant_id)
        except SubmissionError as exc:
            return error_response(exc)
        return await submit(publisher, submission, key.source)

    return router
