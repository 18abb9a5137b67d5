"""The HTTP API (FastAPI; OpenAPI document at ``/openapi.json``, docs at ``/docs``), one
router per resource: ingest and adapters (``ingest.py``), operations (``operations.py``),
assets (``assets.py``), KPIs and fleet (``kpis.py``), lifespan survival (``lifespan.py``),
reports (``reports.py``), the re-use marketplace (``offers.py``), the live stream
(``live.py``), the dashboard and docs pages (``pages.py``), Prometheus metrics
(``metrics.py``).

Reads come from PostgreSQL only (``/v1/status`` also asks Kafka for high-water marks). Field
names carry their units (``_kg_co2e``, ``_kg``, ``_years``, ``_share`` in 0..1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import start_http_server

from events.codec import EVENT_ADAPTER
from infra.garbage_collection import freeze_start_up
from infra.settings import ConfigurationError, Settings
from projections.carbon import factor_table
from projections.postgres.connection import TRANSIENT_DB_ERRORS, create_pool
from projections.postgres.migrate import migrate
from services.http.assets import assets_router
from services.http.ingest import gateway_router
from services.http.kpis import kpis_router
from services.http.lifespan import lifespan_router
from services.http.live import ChangeFeed, live_router
from services.http.metrics import ApiMetrics
from services.http.offers import OfferConflict, offer_conflict, offers_router
from services.http.operations import operations_router
from services.http.pages import mount_pages
from services.http.params import DATABASE_UNAVAILABLE, database_unavailable, parameter_rejected
from services.http.reports import reports_router
from services.http.request_context import request_context
from services.intake.publisher import Publisher
from streams.watermarks import WatermarkReader


def install_event_schema(app: FastAPI) -> None:
    """Put the event contract into the OpenAPI document (the gateway reads raw bytes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            event = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(event.pop("$defs", {}))
            schemas["LifecycleEvent"] = event
            schemas["EventOrBatch"] = {
                "oneOf": [
                    {"$ref": "#/components/schemas/LifecycleEvent"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"$ref": "#/components/schemas/LifecycleEvent"},
                    },
                ]
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_api(settings: Settings) -> FastAPI:
    kafka, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)
    publisher = Publisher(kafka, settings.topic, idempotent=settings.idempotent_producer)
    watermarks = WatermarkReader(kafka, settings.topic)
    metrics = ApiMetrics()
    feed = ChangeFeed(dsn)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn, min_size=1, max_size=8)
        async with pool.acquire() as conn:
            await migrate(conn)
        app.state.pool = pool
        freeze_start_up()
        await feed.start()
        if settings.metrics_port is not None:
            start_http_server(
                settings.metrics_port, addr=settings.metrics_host, registry=metrics.registry
            )
        try:
            yield
        finally:
            await feed.stop()
            await publisher.close()
            await watermarks.close()
            await pool.close()

    app = FastAPI(
        title="kretslopp",
        version="0.1.0",
        summary="Circular-IT asset lifecycle events in, KPIs out.",
        description="Every `/v1` endpoint needs an API key (`kretslopp keys create`), sent as "
        "`Authorization: Bearer <key>`. A tenant key reads and writes one tenant; an operator "
        "key (`keys create --operator`) reads `/v1/status` only. `/health` and this document "
        "(`/openapi.json`, `/docs`, `/redoc`), the dashboard (`/`) and `/metrics` need no "
        "key: they hold no tenant data.",
        lifespan=lifespan,
        responses=DATABASE_UNAVAILABLE,
        docs_url=None,  # served from this process by services/http/pages.py, not a CDN
        redoc_url=None,
    )
    app.middleware("http")(metrics.middleware)
    app.middleware("http")(request_context)
    app.add_exception_handler(RequestValidationError, parameter_rejected)  # type: ignore[arg-type]
    app.add_exception_handler(OfferConflict, offer_conflict)
    for transient in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(transient, database_unavailable)
    app.include_router(gateway_router(publisher))
    app.include_router(operations_router(settings, watermarks))
    app.include_router(assets_router())
    app.include_router(kpis_router(table))
    app.include_router(lifespan_router())
    app.include_router(reports_router(settings))
    app.include_router(offers_router(publisher))
    app.include_router(live_router(feed, metrics))
    if settings.metrics_port is None:

        @app.get("/metrics", include_in_schema=False)
        async def prometheus_metrics() -> Response:
            return metrics.exposition()

    mount_pages(app)
    install_event_schema(app)

    return app


def api_from_env() -> FastAPI:
    """The app of one of several server processes (``KRETSLOPP_API_WORKERS`` > 1): each
    process builds its own from the settings its parent put in the environment."""
    from infra.structured_logging import configure

    settings = Settings.from_env()
    configure(settings.log_level)
    return create_api(settings)


def run_api(settings: Settings) -> None:
    import os

    import uvicorn

    from infra.structured_logging import configure

    configure(settings.log_level)
    if settings.api_workers > 1 and settings.metrics_port is not None:
        raise ConfigurationError(
            "KRETSLOPP_METRICS_PORT cannot be set with KRETSLOPP_API_WORKERS > 1: every server "
            "process would listen on it. Unset it; each process then serves /metrics on the "
            "API port with its own counters"
        )
    if settings.api_workers > 1:
        # uvicorn starts each process from an import string; they read these settings
        os.environ.update(settings.child_env())
        app: Any = "services.http.app:api_from_env"
    else:
        app = create_api(settings)
    uvicorn.run(
        app,
        factory=settings.api_workers > 1,
        workers=settings.api_workers if settings.api_workers > 1 else None,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # open event streams never finish by themselves: on SIGTERM give requests 3 s, then
        # end the streams (their clients reconnect) instead of waiting for ever
        timeout_graceful_shutdown=3,
    )
