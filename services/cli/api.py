"""``kretslopp api``: the HTTP API and gateway."""

from __future__ import annotations

import argparse
from typing import Any

from infra.settings import Settings


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    api = sub.add_parser(
        "api",
        help="serve the HTTP read API",
        description="Serve the read API on KRETSLOPP_API_HOST:KRETSLOPP_API_PORT "
        "(default 127.0.0.1:8000); OpenAPI at /openapi.json, interactive docs at /docs.",
    )
    api.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from services.http.app import run_api

    run_api(settings)
    return 0
