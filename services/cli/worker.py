"""``kretslopp worker``: the Faust worker that keeps the projections."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

from infra import faults
from infra.garbage_collection import tune_for_throughput
from infra.settings import Settings
from infra.structured_logging import configure
from streams.topics import ensure_lifecycle_topics


def run_worker(settings: Settings) -> None:
    configure(settings.log_level)
    settings.require_endpoints()
    asyncio.run(ensure_lifecycle_topics(settings))

    # here, not at the top: `kretslopp --help` need not load Faust
    from streams.app import KretsloppWorker, create_app

    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    tune_for_throughput()
    worker = KretsloppWorker(app, loglevel=settings.log_level.upper(), quiet=True)
    faults.reached("worker_started")
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        # Faust has stopped and closed its loop; the process ends now. Left to the
        # interpreter, the exit joins Faust's consumer thread, which was seen stuck in a
        # rebalance for good after SIGTERM (tests/integration/test_cluster_faults.py, scale
        # in under load): the worker never exited. Nothing is lost by not waiting - every
        # batch is either committed in PostgreSQL with its checkpoint or not at all.
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


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
