"""The dashboard at ``/`` and the API docs at ``/docs`` and ``/redoc``, served from this
process: nothing is loaded from another origin, so they work in an air-gapped network.

The dashboard is our own HTML, CSS and JavaScript (``services/http/dashboard/``; no library);
Swagger UI and ReDoc come from the ``fastapi-offline`` wheel, which ships their files at pinned
versions (constraints.txt). A Content-Security-Policy allows scripts, styles and connections to
this origin only: a CDN reference or an injected inline script would not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DASHBOARD = Path(__file__).resolve().parent / "dashboard"
SELF_ONLY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI and ReDoc start with an inline script of FastAPI's and ReDoc runs a web worker
# from a blob: URL; everything else stays on this origin.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def vendored_docs() -> Path:
    """The directory of Swagger UI's and ReDoc's files inside the fastapi-offline wheel."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def redoc_script() -> bytes:
    """ReDoc's bundle with its one remote reference (the "API docs by Redocly" logo) pointed
    at our own favicon: the CSP would block it anyway, but the page would ask for it."""
    script = (vendored_docs() / "redoc.standalone.js").read_bytes()
    return script.replace(REDOC_LOGO.encode(), b"/static-docs/favicon.png")


def mount_pages(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)
    redoc_js = redoc_script()

    @router.get("/static-docs/redoc.standalone.js")
    async def redoc_bundle() -> Response:
        return Response(redoc_js, media_type="text/javascript")

    @router.get("/")
    async def dashboard() -> FileResponse:
        return FileResponse(
            DASHBOARD / "index.html",
            headers={"Content-Security-Policy": SELF_ONLY, "Cache-Control": "no-cache"},
        )

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="kretslopp API",
            swagger_js_url="/static-docs/swagger-ui-bundle.js",
            swagger_css_url="/static-docs/swagger-ui.css",
            swagger_favicon_url="/static-docs/favicon.png",
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title="kretslopp API",
            redoc_js_url="/static-docs/redoc.standalone.js",
            redoc_favicon_url="/static-docs/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    app.include_router(router)  # before the mount, so the patched ReDoc bundle wins
    app.mount("/dashboard", StaticFiles(directory=DASHBOARD), name="dashboard")
    app.mount("/static-docs", StaticFiles(directory=vendored_docs()), name="static-docs")
