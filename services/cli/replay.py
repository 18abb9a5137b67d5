"""``kretslopp replay``: read the topic from the earliest offset into a new consumer group.

For deployments whose Kafka keeps the full history: point ``DATABASE_URL`` at a fresh database
to rebuild it from Kafka, or at the live one to check that nothing changes (every event is then
a duplicate). Runs a worker under the new group and stops it once it has caught up.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from infra.processes import spawn
from infra.settings import Settings
from services.reports.status import collect_status


def run_replay(settings: Settings, group: str | None, timeout_s: float) -> int:
    settings.require_endpoints()
    group = group or f"{settings.consumer_group}-replay-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    replay = replace(settings, consumer_group=group)
    console = Console(stderr=True, soft_wrap=True)  # one message, one line (greppable)
    child = spawn("worker", replay, log_name=f"replay-{group}")
    worker, log_path = child.process, child.log_path
    console.print(
        f"replaying {settings.topic} from the earliest offset as consumer group "
        f"{group} (worker log: {log_path})"
    )
    started = time.monotonic()
    try:
        with Progress(
            "replay", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
        ) as progress:
            task = progress.add_task("records", total=None)
            while True:
                if worker.poll() is not None:
                    console.print(
                        f"[red]the worker exited with {worker.returncode}; see {log_path}[/red]"
                    )
                    return 1
                report = asyncio.run(collect_status(replay))
                ends = sum(p.high_watermark or 0 for p in report.partitions)
                done = sum(min(p.next_offset, p.high_watermark or 0) for p in report.partitions)
                progress.update(task, total=ends, completed=done)
                if (
                    report.partitions
                    and report.total_lag == 0
                    and all(p.next_offset >= (p.high_watermark or 0) for p in report.partitions)
                    and done == ends
                ):
                    break
                if time.monotonic() - started > timeout_s:
                    console.print("[red]replay did not catch up in time[/red]")
                    return 1
                time.sleep(1)
    finally:
        child.stop(30)
    applied = sum(p.events_applied for p in report.partitions)
    duplicates = sum(p.duplicates_skipped for p in report.partitions)
    dead = sum(p.dead_letters for p in report.partitions)
    console.print(
        f"caught up in {time.monotonic() - started:.0f} s: {applied} applied, "
        f"{duplicates} duplicates, {dead} dead letters"
    )
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    replay = sub.add_parser(
        "replay",
        help="re-read the whole topic into a new consumer group, then stop",
        description="For a Kafka that keeps the full history: run a worker under a new "
        "consumer group from the earliest offset until it has caught up. With a fresh "
        "DATABASE_URL this rebuilds the projections from Kafka; with the live one every event "
        "is a duplicate and nothing changes.",
    )
    replay.add_argument("--group", help="consumer group (default: <group>-replay-<time>)")
    replay.add_argument("--timeout", type=float, default=3600, help="give up after seconds")
    replay.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:

    return run_replay(settings, args.group, args.timeout)
