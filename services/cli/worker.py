"""``kretslopp worker``: the Faust worker that keeps the projections."""

from __future__ import annotations

import asyncio

import faust

from infra.garbage_collection import tune_for_throughput
from infra.settings import Settings
from infra.structured_logging import configure
from streams.app import create_app
from streams.topics import ensure_topics


def run_worker(settings: Settings) -> None:
    configure(settings.log_level)
    kafka, _ = settings.require_endpoints()
    asyncio.run(
        ensure_topics(kafka, {settings.topic: settings.partitions, settings.dead_letter_topic: 1})
    )
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    tune_for_throughput()
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
