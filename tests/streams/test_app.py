"""The worker's wiring of its write lanes (``streams.app.worker_lanes``)."""

from __future__ import annotations

import asyncio

from infra.settings import Settings
from projections.batch import SourceRecord
from streams.app import worker_lanes


async def test_a_run_of_one_partitions_batches_does_not_keep_the_other_lane_idle() -> None:
    """aiokafka hands fetched records over a partition at a time, so the agent's batches come
    in runs of one partition. While the first batch of a run is being written, the agent must
    be able to queue the rest of the run and hand the next partition's batch to the other
    lane. With one batch waiting per lane (the first form) the third put of the run waited
    for the first write, and the other lane stood idle."""
    settings = Settings()
    started: list[int] = []
    database = asyncio.Event()  # a slow database: no write finishes until it is set
    failures: list[BaseException] = []

    async def write(records: list[SourceRecord]) -> None:
        started.append(records[0].partition)
        await database.wait()

    # runs of 6 and 7 batches of one partition in a 200k-event run of the bench
    run = [[SourceRecord(2, o, None, b"{}")] for o in range(7)]
    async with worker_lanes(settings, write, failures.append) as writer:
        for batch in run:
            await asyncio.wait_for(writer.put(batch), 1.0)
        await asyncio.wait_for(writer.put([SourceRecord(7, 0, None, b"{}")]), 1.0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert started == [2, 7]  # both lanes write at once; the run waits in its lane
        database.set()
    assert (started.count(2), started.count(7), failures) == (len(run), 1, [])
