"""``kretslopp rebuild``: recompute all projections from the event log, swap atomically."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from infra.garbage_collection import tune_for_throughput
from infra.settings import Settings
from projections.carbon import factor_table
from projections.postgres import reads
from projections.postgres.connection import migrated
from projections.postgres.rebuild import default_parts, rebuild


def run_rebuild(settings: Settings, parts: int | None = None) -> int:
    _, dsn = settings.require_endpoints()
    table = factor_table(settings.factor_source)
    parts = parts or default_parts()
    console = Console(stderr=True, soft_wrap=True)  # one message, one line (greppable)

    async def run() -> None:
        async with migrated(dsn) as conn:
            total = await reads.event_count(conn)
        started = time.perf_counter()
        with Progress(
            "rebuilding from the event log",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("events", total=total)
            result = await rebuild(
                dsn, table, lambda n: progress.update(task, advance=n), parts=parts
            )
        seconds = time.perf_counter() - started
        console.print(
            f"rebuilt {result.assets} asset(s) from {result.events} event(s) in {seconds:.1f} s "
            f"({result.events / max(seconds, 1e-9):.0f} events/s); {result.caught_up_assets} "
            "asset(s) caught up with events that arrived meanwhile; swapped in atomically"
        )

    tune_for_throughput()  # a rebuild folds the whole log: same profile as the worker
    asyncio.run(run())
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    rebuild = sub.add_parser(
        "rebuild",
        help="recompute every projection from the PostgreSQL event log and swap it in",
        description="Fold the event log (the source of truth) again into fresh tables, with "
        "a progress bar, then swap them in atomically. The live worker keeps running; it waits "
        "only for the short swap. Use after a bug fix in the fold or to verify the projections.",
    )
    rebuild.add_argument(
        "--parts",
        type=int,
        default=None,
        metavar="N",
        help="fold the log in N processes, each a disjoint set of assets of one snapshot "
        f"(default: one per core, at most 4; here {default_parts()})",
    )
    rebuild.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.parts is not None and not 1 <= args.parts <= 64:
        Console(stderr=True).print("kretslopp rebuild: --parts must be between 1 and 64")
        return 2
    return run_rebuild(settings, args.parts)
