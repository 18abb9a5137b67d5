"""``kretslopp worker``: the Faust worker that keeps the projections."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from typing import Any

from infra import faults
from infra.garbage_collection import tune_for_throughput
from infra.process_group import end_with_parent, run_group
from infra.settings import Settings
from infra.structured_logging import configure
from streams.topics import ensure_lifecycle_topics


def run_worker(settings: Settings) -> None:
    configure(settings.log_level)
    end_with_parent()
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


def run_worker_processes(settings: Settings) -> int:
    """``settings.worker_processes`` workers in one consumer group, as one unit
    (``infra.process_group``). Worker ``i`` serves its metrics on ``KRETSLOPP_METRICS_PORT + i``."""
    settings.require_endpoints()
    asyncio.run(ensure_lifecycle_topics(settings))  # once, before the workers race to it
    envs = []
    for i in range(settings.worker_processes):
        port = None if settings.metrics_port is None else settings.metrics_port + i
        envs.append(replace(settings, worker_processes=1, metrics_port=port).child_env())
    return run_group([sys.executable, "-m", "services.cli", "worker"], envs)


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    worker = sub.add_parser(
        "worker",
        help="run the Faust worker that keeps the projections",
        description="Consume the lifecycle topic and keep the PostgreSQL projections. Needs "
        "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL. Run several, here or on other machines, "
        "to share the partitions.",
    )
    worker.add_argument(
        "--processes",
        type=_process_count,
        metavar="N",
        help="run N worker processes in one consumer group, started and stopped together "
        "(default: KRETSLOPP_WORKER_PROCESSES, 1); each is one Python process, so a worker "
        "uses about one core",
    )
    worker.set_defaults(func=handle)


def _process_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64, got {text!r}")
    return int(text)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.processes is not None:
        settings = replace(settings, worker_processes=args.processes)
    if settings.worker_processes > 1:
        return run_worker_processes(settings)
    run_worker(settings)
    return 0
