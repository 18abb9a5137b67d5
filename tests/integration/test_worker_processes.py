"""``kretslopp worker --processes N`` (``KRETSLOPP_WORKER_PROCESSES``): N worker processes in one
consumer group, started and stopped as one unit (``infra.process_group``).

What a user relies on: both processes take partitions and every event still counts once; a
SIGTERM stops them all; a process that dies takes the unit down (so its supervisor restarts
it), and a unit that is killed outright leaves no orphan behind that goes on consuming."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time

import orjson
import psutil

from infra.ports import free_port
from tests.factories import as_record, fleet
from tests.integration.conftest import (
    StackEnv,
    Worker,
    produce,
    scrape_metrics,
    totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of


def children_of(worker: Worker, count: int, timeout_s: float = 30) -> list[psutil.Process]:
    assert worker.process is not None
    deadline = time.monotonic() + timeout_s
    while True:
        kids = psutil.Process(worker.process.pid).children()
        if len(kids) == count:
            return kids
        assert time.monotonic() < deadline, f"{len(kids)} worker processes, not {count}"
        time.sleep(0.1)


def log_lines(worker: Worker, event: str) -> list[dict[str, object]]:
    lines = []
    for line in worker.log().splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            lines.append(orjson.loads(line))
    return lines


async def wait_for_both_assigned(worker: Worker, pids: set[int], timeout_s: float = 90) -> None:
    """Until each process has resumed partitions of its own after the last rebalance."""
    deadline = time.monotonic() + timeout_s
    while True:
        latest: dict[object, set[str]] = {}
        for line in log_lines(worker, "partitions resume at PostgreSQL checkpoints"):
            checkpoints = line["checkpoints"]
            assert isinstance(checkpoints, dict)
            latest[line["pid"]] = set(checkpoints)
        owned = {pid for pid, partitions in latest.items() if partitions}
        if owned == pids and not set.intersection(*latest.values()):
            return
        assert time.monotonic() < deadline, f"assignments: {latest}\n{worker.log()[-4000:]}"
        await asyncio.sleep(0.25)


def gone(processes: list[psutil.Process], timeout_s: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    return not alive


def two_free_ports() -> int:
    """A port p with p + 1 free as well: worker i of a unit serves metrics on p + i."""
    for _ in range(100):
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two free ports in a row")


async def test_two_processes_share_the_partitions_and_count_each_event_once(
    env: StackEnv,
) -> None:
    port = two_free_ports()
    worker = env.worker(
        "group", {"KRETSLOPP_WORKER_PROCESSES": "2", "KRETSLOPP_METRICS_PORT": str(port)}
    )
    kids = children_of(worker, 2)
    pids = {k.pid for k in kids}
    await wait_for_both_assigned(worker, pids)

    objects = fleet(120, 5, seed=21)
    records = [as_record(o) for o in objects]
    last = await produce(env, records + records[:40])  # and 40 duplicates
    await wait_until_applied(env, last)

    assert await totals(env) == (len(objects), 40, 0)
    await assert_projection_is_fold_of(env, objects)
    applied_by = {line["pid"] for line in log_lines(worker, "batch applied")}
    assert applied_by == pids, f"batches applied by {applied_by}, workers {pids}"
    # each worker counts its own batches on its own port; together, every event once
    counted = [await scrape_metrics(port), await scrape_metrics(port + 1)]
    assert all(c["kretslopp_events_applied_total"] > 0 for c in counted)
    assert sum(c["kretslopp_events_applied_total"] for c in counted) == len(objects)
    assert sum(c["kretslopp_duplicates_total"] for c in counted) == 40

    assert worker.terminate() == 0
    assert gone(kids, 5)


async def test_a_process_that_dies_stops_the_unit(env: StackEnv) -> None:
    worker = env.worker("group", {"KRETSLOPP_WORKER_PROCESSES": "2"})
    first, second = children_of(worker, 2)
    first.send_signal(signal.SIGKILL)
    assert worker.process is not None
    code = await asyncio.to_thread(worker.process.wait, 60)
    assert code == 128 + signal.SIGKILL, worker.log()[-3000:]
    assert gone([second], 5)


async def test_a_unit_killed_outright_leaves_no_worker_behind(env: StackEnv) -> None:
    worker = env.worker("group", {"KRETSLOPP_WORKER_PROCESSES": "2"})
    kids = children_of(worker, 2)
    worker.kill()  # SIGKILL: the unit cannot pass anything on
    assert await asyncio.to_thread(gone, kids, 30), [k.cmdline() for k in kids if k.is_running()]
