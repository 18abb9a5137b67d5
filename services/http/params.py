"""What every read route shares: path and query parameter types, the documented error
responses, FastAPI's own 422 in the ``Rejected`` shape, and the connection pool."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from events.codec import reason_of
from events.models import NON_EMPTY_NO_CONTROL_CHARS
from services.http.ingest import Rejected

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
