"""kretslopp's consumer (``streams/consumer.py``): each fetch reaches the agent as one batch,
a fetch from a rebalance is dropped, offsets are committed once written; and the Faust and
aiokafka internals it builds on are still there.

Those internals are below public APIs (pinned in constraints.txt). The guards fail on an
upgrade that moves them, instead of the worker silently losing its speed or its rebalance
safety.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust import topics as faust_topics
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from infra.settings import Settings
from streams.app import create_app
from streams.consumer import KretsloppConsumer, KretsloppTransport, ShortFetchWaitThread
from streams.fetched_batches import FetchedBatches


def _source(obj: object) -> str:
    return re.sub(r"\s+", " ", inspect.getsource(obj))  # type: ignore[arg-type]


def _consumer(tmp_path: Path, topic: str = "lifecycle") -> KretsloppConsumer:
    settings = replace(Settings.from_env(), data_dir=tmp_path, topic=topic).with_endpoints(
        "127.0.0.1:1", "postgresql://unused/x", 1
    )
    consumer = create_app(settings).consumer
    assert isinstance(consumer, KretsloppConsumer)
    return consumer


def _record(offset: int) -> SimpleNamespace:
    return SimpleNamespace(offset=offset, key=b"k", value=b"v%d" % offset)


class Fetches:
    """Stands in for the broker behind ``_wait_next_records``: hands out the given fetches in
    turn, running ``during[i]`` (a rebalance starting, say) while the i-th one is fetched."""

    def __init__(self, fetches: list[dict[TP, list[Any]]]) -> None:
        self.fetches = list(fetches)
        self.during: dict[int, Callable[[], object]] = {}
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.n = 0

    async def __call__(self, timeout: float) -> tuple[dict[TP, list[Any]], set[TP] | None]:  # noqa: ASYNC109 - Faust's signature
        if self.n == len(self.fetches):
            self.fetcher._stopped.set()
            return {}, None
        fetched = self.fetches[self.n]
        if self.n in self.during:
            self.during[self.n]()
        self.n += 1
        return fetched, set(fetched)


async def _drain(consumer: KretsloppConsumer, fetches: Fetches) -> list[list[int]]:
    cast(Any, consumer)._wait_next_records = fetches
    consumer.fetched = FetchedBatches(depth=10)
    consumer.resume_flow()
    await asyncio.wait_for(consumer._drain_messages(fetches.fetcher), 5)
    out = []
    while not consumer.fetched._queue.empty():
        out.append([r.offset for r in consumer.fetched._queue.get_nowait()])
    return out


async def test_each_fetch_reaches_the_agent_as_one_list(tmp_path: Path) -> None:
    consumer = _consumer(tmp_path)
    p0, p1 = TP("lifecycle", 0), TP("lifecycle", 1)
    fetches = Fetches([{p0: [_record(0), _record(1)], p1: [_record(0)]}, {p0: [_record(2)]}])
    assert await _drain(consumer, fetches) == [[0, 1, 0], [2]]
    assert consumer._read_offset[p0] == 2 and consumer._read_offset[p1] == 0
    # Faust's livelock check reads when a stream last took a record of each partition
    assert set(consumer.app.monitor.stream_inbound_time) == {p0, p1}
    check = _source(faust_aiokafka.AIOKafkaConsumerThread.verify_event_path)
    assert "inbound = monitor.stream_inbound_time.get(tp)" in check


async def test_a_fetch_across_a_rebalance_is_delivered_not_dropped(tmp_path: Path) -> None:
    """A first version dropped a fetch when the group's generation changed while it was
    fetched; a fetch made after the rebalance's seek is not read again, so the checkpoint
    moved past it (the three-worker kill test lost 500 of 6,000). Delivering is safe: a
    record PostgreSQL holds is skipped below the checkpoint."""
    consumer = _consumer(tmp_path)
    app = cast(Any, consumer.app)
    p0 = TP("lifecycle", 0)
    fetches = Fetches([{p0: [_record(0)]}, {p0: [_record(1)]}, {p0: [_record(2)]}])

    def new_generation() -> None:
        app.consumer_generation_id += 1

    fetches.during = {0: new_generation, 1: consumer.stop_flow, 2: consumer.resume_flow}
    assert await _drain(consumer, fetches) == [[0], [1], [2]]


async def test_a_seek_back_drops_only_what_was_fetched_below_it(tmp_path: Path) -> None:
    consumer = _consumer(tmp_path)
    p0, p1 = TP("lifecycle", 0), TP("lifecycle", 1)
    fetches = Fetches(
        [
            {p0: [_record(5), _record(6)], p1: [_record(3)]},
            {p0: [_record(4), _record(5), _record(7)]},  # 4 was fetched before the seek to 5
        ]
    )

    def seek() -> None:
        consumer._read_offset[p0] = 5  # what ``Consumer.seek`` sets (guarded below)

    fetches.during = {1: seek}
    assert await _drain(consumer, fetches) == [[5, 6, 3], [5, 7]]


async def test_written_offsets_are_committed_as_the_next_offset_never_backwards(
    tmp_path: Path,
) -> None:
    consumer = _consumer(tmp_path)
    committed: list[dict[TP, int]] = []

    async def commit_offsets(offsets: dict[TP, int], **_: Any) -> bool:
        committed.append(dict(offsets))
        consumer._committed_offset.update(offsets)  # as Faust's _commit_offsets does
        return True

    cast(Any, consumer)._commit_offsets = commit_offsets
    consumer.written({0: 9, 1: 4})
    consumer.written({0: 7})  # an older batch of partition 0 (a redelivery) moves nothing
    await consumer.commit_written()
    await consumer.commit_written()  # nothing new: no second commit
    consumer.written({1: 5})
    consumer.written({0: 3})  # redelivered after the commit: not committed backwards
    await consumer.commit_written()
    topic = "lifecycle"
    assert committed == [{TP(topic, 0): 10, TP(topic, 1): 5}, {TP(topic, 1): 6}]


def test_faust_s_fetcher_runs_the_loop_we_replace() -> None:
    fetcher = cast(Any, faust_consumer.Fetcher._fetcher).fun  # a mode ServiceTask
    assert "consumer._drain_messages(self)" in _source(fetcher)
    loop = _source(faust_consumer.Consumer._drain_messages)
    # what our loop keeps, per fetch: the read offsets and Faust's stop conditions
    assert "if r_offset is None or offset >= r_offset:" in loop
    assert "set_read_offset(tp, offset)" in loop


def test_faust_s_getmany_checks_we_make_per_fetch_are_still_its_checks() -> None:
    getmany = _source(faust_consumer.Consumer.getmany)
    assert "records, active_partitions = await self._wait_next_records(timeout)" in getmany
    assert "if new_generation_id != generation_id:" in getmany
    assert "or tp in self._buffered_partitions" in getmany
    assert "if not self.flow_active: break" in getmany


def test_a_seek_still_moves_the_read_offset_back() -> None:
    """After a rebalance every partition seeks to its checkpoint; the read offset must follow,
    or the loop would drop the records it has to read again."""
    seek = _source(faust_consumer.Consumer.seek)
    assert "self._read_offset[ensure_TP(partition)] = offset if offset else None" in seek


def test_commits_go_through_faust_s_assignment_filter() -> None:
    commit = _source(faust_consumer.Consumer._commit_offsets)
    assert "if tp in assignment:" in commit
    assert "did_commit = await self._commit(committable_offsets)" in commit


def test_iterating_the_topic_subscribes_it() -> None:
    assert "self.app.topics.add(cast(TopicT, channel))" in _source(faust_topics.Topic.__aiter__)


def test_one_fetch_is_at_most_one_batch(tmp_path: Path) -> None:
    consumer = _consumer(tmp_path)
    assert consumer.app.conf.broker_max_poll_records == Settings.from_env().batch_size
    thread = _source(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "max_poll_records=conf.broker_max_poll_records" in thread


def test_aiokafka_still_reads_the_fetch_wait_when_it_starts() -> None:
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in _source(AIOKafkaConsumer.start)
    created = _source(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in created  # what ShortFetchWaitThread overrides


def test_the_app_gets_our_consumer_and_thread() -> None:
    assert KretsloppTransport.Consumer is KretsloppConsumer
    assert issubclass(ShortFetchWaitThread, faust_aiokafka.AIOKafkaConsumerThread)
    assert "AIOKafkaConsumerThread(self" in _source(faust_aiokafka.Consumer._new_consumer_thread)
