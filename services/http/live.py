"""Live KPI push: PostgreSQL notifications in, Server-Sent Events out.

Each batch transaction that moves a tenant's KPIs ends with ``pg_notify('kretslopp_changes',
...)`` naming the tenants, the months whose KPI rows changed and the events applied
(``projections/postgres/changes.py``); PostgreSQL delivers it on commit, never for a rolled
back batch. One API process holds ONE listening connection (``ChangeFeed``) and fans each
change out to the streams of that tenant, so open streams cost the worker nothing and the
database one connection per API process.

``GET /v1/tenants/{tenant_id}/stream`` (tenant key, in the Authorization header: the dashboard
reads it with ``fetch`` streaming, not ``EventSource``, which cannot send headers):

- ``event: changed`` with ``{"months": ["2025-03", ...], "applied": n}``: fetch those months;
  ``months`` is ``null`` when too many changed to name (fetch everything);
- ``event: resync``: changes may have been missed (the stream fell behind, the API restarted,
  the listening connection was lost and re-made): fetch everything;
- a ``: keep-alive`` comment every 15 s, so proxies and clients see a live connection.

Each event has an ``id``; a client that reconnects with ``Last-Event-ID`` gets the changes it
missed from this process's last 1,000, or a ``resync`` when they are not there (another
process, or too old). A stream's queue holds 256 changes; one that falls behind is dropped to
a single ``resync`` rather than slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from projections.postgres.changes import CHANNEL, parse_payload
from projections.postgres.connection import connect
from services.http.auth import TenantCaller
from services.http.metrics import ApiMetrics
from services.http.params import READ_RESPONSES, TenantPath

log = structlog.get_logger(__name__)

HEARTBEAT_S = 15.0
QUEUE_SIZE = 256
HISTORY = 1000
MAX_STREAMS = 2000


@dataclass(eq=False)  # one per stream, told apart by identity
class Subscriber:
    tenant: str
    queue: asyncio.Queue[tuple[str, str, dict[str, Any] | None]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )

    def offer(self, item: tuple[str, str, dict[str, Any] | None]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # too slow: everything it missed becomes one resync
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((item[0], "resync", None))


class ChangeFeed:
    """One LISTEN connection; changes fanned out to the subscribers of each tenant."""

    def __init__(self, dsn: str, check_every_s: float = 5.0) -> None:
        self._dsn = dsn
        self._check_every_s = check_every_s
        self._boot = uuid.uuid4().hex[:8]
        self._seq = 0
        self._history: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=HISTORY)
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def streams(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _next_id(self) -> tuple[int, str]:
        self._seq += 1
        return self._seq, f"{self._boot}-{self._seq}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    async def _keep_listening(self) -> None:
        """Listen; check the connection every few seconds; re-listen after a loss and tell
        every stream to resync (notifications sent meanwhile are gone)."""
        first = True
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await connect(self._dsn)
                    await self._conn.add_listener(CHANNEL, self._on_notify)
                    if not first:
                        log.warning("change feed re-listening; streams told to resync")
                        self._resync_all()
                    first = False
                await self._conn.fetchval("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change feed connection lost", error=repr(exc))
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.terminate()
                self._conn = None
            await asyncio.sleep(self._check_every_s)

    def _resync_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                _, event_id = self._next_id()
                subscriber.offer((event_id, "resync", None))

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        for tenant, change in parse_payload(str(payload)).items():
            seq, event_id = self._next_id()
            self._history.append((seq, tenant, change))
            for subscriber in self._subscribers.get(tenant, ()):
                subscriber.offer((event_id, "changed", change))

    def subscribe(self, tenant: str, last_event_id: str | None) -> Subscriber:
        subscriber = Subscriber(tenant)
        self._subscribers.setdefault(tenant, set()).add(subscriber)
        if last_event_id:
            self._replay(subscriber, last_event_id)
        return subscriber

    def _replay(self, subscriber: Subscriber, last_event_id: str) -> None:
        boot, _, seq_text = last_event_id.partition("-")
        oldest = self._history[0][0] if self._history else self._seq + 1
        if boot != self._boot or not seq_text.isdigit() or int(seq_text) + 1 < oldest:
            _, event_id = self._next_id()
            subscriber.offer((event_id, "resync", None))
            return
        for seq, tenant, change in self._history:
            if seq > int(seq_text) and tenant == subscriber.tenant:
                subscriber.offer((f"{self._boot}-{seq}", "changed", change))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.tenant)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[subscriber.tenant]


def sse(event_id: str, event: str, data: dict[str, Any] | None) -> bytes:
    body = orjson.dumps(data if data is not None else {})
    return b"".join(
        (b"id: ", event_id.encode(), b"\nevent: ", event.encode(), b"\ndata: ", body, b"\n\n")
    )


def live_router(feed: ChangeFeed, metrics: ApiMetrics) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/tenants/{tenant_id}/stream",
        tags=["kpis"],
        response_class=StreamingResponse,
        responses={
            **READ_RESPONSES,
            200: {
                "description": "Server-Sent Events: `changed` (months whose KPIs changed), "
                "`resync` (fetch everything), `: keep-alive` comments every 15 s",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            503: {"description": "Too many open streams on this API process; retry later"},
        },
    )
    async def stream(request: Request, tenant_id: TenantPath, key: TenantCaller) -> Any:
        """Live changes of this tenant's KPIs, pushed when a batch that touched them commits."""
        if feed.streams >= MAX_STREAMS:
            raise HTTPException(503, detail="too many open streams; retry later")
        subscriber = feed.subscribe(tenant_id, request.headers.get("last-event-id"))

        async def events() -> AsyncIterator[bytes]:
            metrics.streams.inc()
            try:
                _, hello = feed._next_id()
                yield sse(hello, "hello", {"tenant_id": tenant_id})
                while True:
                    try:
                        event_id, event, data = await asyncio.wait_for(
                            subscriber.queue.get(), HEARTBEAT_S
                        )
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield sse(event_id, event, data)
            finally:
                feed.unsubscribe(subscriber)
                metrics.streams.dec()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
