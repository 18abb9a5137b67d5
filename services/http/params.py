"""What every read route shares: path and query parameter types, the documented error
responses, FastAPI's own 422 in the ``Rejected`` shape, the connection pool, and the 503 of a
database that is out of reach."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from events.codec import reason_of
from events.models import NON_EMPTY_NO_CONTROL_CHARS
from services.http.ingest import Rejected

log = structlog.get_logger(__name__)

# Years 1980-2999: occurred_at cannot lie outside them, and year 0 or 9999 broke the date
# arithmetic (500s before, issue #12).
Month = Annotated[str, Query(pattern=r"^(19[89]\d|2\d{3})-(0[1-9]|1[0-2])$", examples=["2024-01"])]
# Identifiers and filter values: the contract's ids and names carry no control characters,
# and PostgreSQL text cannot hold NUL (a %00 in a path or query was a 500).
_NO_CONTROL = NON_EMPTY_NO_CONTROL_CHARS
TenantPath = Annotated[str, Path(min_length=1, max_length=128, pattern=_NO_CONTROL)]
AssetPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=_NO_CONTROL,
        description="May contain '/': send it percent-encoded (%2F) or as is.",
    ),
]
FilterValue = Annotated[str | None, Query(max_length=200, pattern=_NO_CONTROL)]


def month_start(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Rejected, "description": "Missing, unknown or revoked API key"},
    403: {"model": Rejected, "description": "The API key belongs to another tenant"},
    422: {"model": Rejected, "description": "A parameter is malformed; each one named"},
}


DATABASE_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Rejected,
        "description": "PostgreSQL is out of reach or restarting (or a pooled connection was "
        "closed under the request): send the request again after Retry-After seconds",
    }
}


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A transient database error (``TRANSIENT_DB_ERRORS``) under a request: 503, not 500.
    A pooled connection that PostgreSQL closed (a restart, a failover, a pooler's idle
    timeout) fails the request that draws it; asyncpg drops it, so the client's retry gets a
    fresh one. Before, each such request was a 500 with no body worth reading."""
    log.error("database unavailable", error=repr(exc))
    return JSONResponse(
        status_code=503,
        content={
            "detail": "the database is unavailable or restarting; send the request again",
            "errors": [],
        },
        headers={"Retry-After": "5"},
    )


async def parameter_rejected(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422 (a list ``detail``) in the documented ``Rejected`` shape."""
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("query", "path", "header", "body", "cookie"):
            loc = loc[1:]
        errors.append(
            {"index": None, "event_id": None, "field": ".".join(loc), "reason": reason_of(err)}
        )
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})


def pool_of(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool
