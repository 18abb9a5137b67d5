"""``kretslopp worker``: the Faust worker that keeps the projections."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from infra.garbage_collection import tune_for_throughput
from infra.settings import Settings
from infra.structured_logging import configure
from streams.topics import ensure_topics


def run_worker(settings: Settings) -> None:
    configure(settings.log_level)
    kafka, _ = settings.require_endpoints()
    asyncio.run(
        ensure_topics(kafka, {settings.topic: settings.partitions, settings.dead_letter_topic: 1})
    )
    import faust  # here, not at the top: `kretslopp --help` need not load Faust

    from streams.app import create_app

    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    tune_for_throughput()
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    worker = sub.add_parser(
        "worker",
        help="run the Faust worker that keeps the projections",
        description="Consume the lifecycle topic and keep the PostgreSQL projections. Needs "
        "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL. Run several to share the partitions.",
    )
    worker.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    run_worker(settings)
    return 0
