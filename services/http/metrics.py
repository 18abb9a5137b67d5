"""The API's Prometheus metrics: requests by route template and status, and the live streams.

The route label is the template (``/v1/tenants/{tenant_id}/kpis``), never the URL, so a
tenant id or an attacker's path cannot create a label; an unmatched path counts as
``unmatched``. ``/metrics`` needs no key (no tenant data); with ``KRETSLOPP_METRICS_PORT`` set
it moves to that port and host, off the API's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "kretslopp_http_request_duration_seconds",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
            registry=self.registry,
        )
        self.streams = Gauge(
            "kretslopp_live_streams",
            "Open Server-Sent Event streams (GET /v1/tenants/{tenant_id}/stream)",
            registry=self.registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.requests.labels(template, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
