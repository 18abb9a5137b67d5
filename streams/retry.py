"""Retry with capped exponential backoff for transient infrastructure failures.

Used where giving up would lose data: the projector never acknowledges a batch it could not
write, so it waits for PostgreSQL (or the broker) to come back instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from projections.postgres.connection import TRANSIENT_DB_ERRORS

log = structlog.get_logger(__name__)

T = TypeVar("T")


async def with_backoff(
    what: str,
    action: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[BaseException], ...] = TRANSIENT_DB_ERRORS,
    fatal: tuple[type[BaseException], ...] = (),
    first_delay_s: float = 0.2,
    max_delay_s: float = 10.0,
) -> T:
    delay = first_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return await action()
        except fatal:
            raise  # never retried, even where ``transient`` is every exception
        except transient as exc:
            log.warning(
                "transient failure; retrying",
                what=what,
                attempt=attempt,
                retry_in_s=round(delay, 2),
                error=repr(exc),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
