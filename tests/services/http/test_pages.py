"""The pages the API serves reference nothing outside this origin, say so in their CSP, and the
vendored Swagger UI and ReDoc files are really served (no database needed for these)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from infra.settings import Settings
from services.http.app import create_api

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def client() -> TestClient:
    return TestClient(
        create_api(Settings(kafka_bootstrap_servers="x:1", database_url="postgresql://x/y"))
    )


def test_dashboard_and_docs_load_only_from_this_origin() -> None:
    http = client()
    for path in ("/", "/docs", "/redoc"):
        page = http.get(path)
        assert page.status_code == 200, path
        assert not EXTERNAL.search(page.text), f"{path} references another origin"
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "http" not in policy
    dashboard = http.get("/").headers["content-security-policy"]
    assert "'unsafe-inline'" not in dashboard  # an injected inline script would not run
    for asset in (
        "/dashboard/dashboard.js",
        "/dashboard/dashboard.css",
        "/static-docs/swagger-ui-bundle.js",
        "/static-docs/redoc.standalone.js",
    ):
        response = http.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
        assert b"https://cdn." not in response.content, asset


def test_the_dashboard_never_writes_event_text_as_html() -> None:
    script = client().get("/dashboard/dashboard.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "localStorage" not in script


def test_metrics_need_no_key_and_the_openapi_document_lists_the_stream() -> None:
    http = client()
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert "kretslopp_http_request_duration_seconds" in metrics.text
    paths = http.get("/openapi.json").json()["paths"]
    stream = paths["/v1/tenants/{tenant_id}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "/" not in paths and "/metrics" not in paths
