"""kretslopp's Faust transport: faust-streaming's aiokafka consumer with two changes, and its
producer made idempotent where the broker can be.

1. Each fetch goes to the agent as one batch (``streams.fetched_batches``), not record by
   record through Faust's conductor, stream and per-record acknowledgements; the batch's
   offsets are committed to Kafka once PostgreSQL holds it.
2. A short fetch wait. faust-streaming 0.15.3 hard-codes ``fetch_max_wait_ms=1500``. Measured
   on the embedded broker at 2,000 events/s, a plain aiokafka consumer sees an event 0.14 s
   (p50) after it was sent with aiokafka's default 500 ms and 0.41 s with 1,500 ms, which was
   most of the worker's 0.6 s freshness. An idle worker asks the broker 10 times a second
   instead of about once: nothing, next to a dashboard that is a second fresher.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service

from streams.fetched_batches import FetchedBatches, fresh_records

FETCH_MAX_WAIT_MS = 100
COMMIT_INTERVAL_S = 1.0  # Faust's broker_commit_interval, as the worker sets it


class ShortFetchWaitThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # read by AIOKafkaConsumer.start() when it creates its fetcher; no public setter
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class KretsloppConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with each fetch handed to the agent as one batch
    (``streams.fetched_batches``), the Kafka offsets committed once the batch is in PostgreSQL,
    and a short fetch wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetched = FetchedBatches(depth=1)
        self._written: dict[int, int] = {}

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop (``Consumer._drain_messages``), a fetch at a time: the
        records of a fetch go to :attr:`fetched` as one list, not to the conductor one by one.
        None is dropped but those below the read offset (``streams.fetched_batches``)."""
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        topic = self._lifecycle_topic()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                fetched, _ = await self._wait_next_records(1.0)
                await self.sleep(0)
                if not fetched or self.should_stop:
                    continue
                await self.fetched.put(fresh_records(fetched, topic, self._read_offset))
                # what Faust's stream recorded per record: its livelock check warns about a
                # partition with lag that no stream took anything of for a while
                now = monotonic()
                inbound = self.app.monitor.stream_inbound_time
                for tp in fetched:
                    inbound[tp] = now
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)  # as Faust's loop did
            raise

    def _lifecycle_topic(self) -> str:
        return str(cast(Any, self.app).kretslopp_topic)  # set by ``create_app``

    def written(self, max_offsets: dict[int, int]) -> None:
        """A batch is in PostgreSQL: its offsets (the highest per partition) are committed to
        Kafka at the next commit interval. PostgreSQL's checkpoint stays the position
        (``streams.app.resume_at_checkpoints``); the Kafka offset is what ``kafka-consumer-groups``
        shows, never ahead of what PostgreSQL holds."""
        for partition, offset in max_offsets.items():
            if offset + 1 > self._written.get(partition, -1):
                self._written[partition] = offset + 1

    @Service.timer(COMMIT_INTERVAL_S)
    async def _commit_timer(self) -> None:
        await self.commit_written()

    async def commit_written(self) -> None:
        """Commit what :meth:`written` noted since the last commit, if anything."""
        if not self._written:
            return
        pending, self._written = self._written, {}
        topic = self._lifecycle_topic()
        committed = self._committed_offset  # Faust's: what it committed or sought to
        offsets = {TP(topic, p): o for p, o in pending.items()}
        forward = {tp: o for tp, o in offsets.items() if (committed[tp] or 0) < o}
        if forward:  # a redelivered older batch does not move the group's offset back
            await self._commit_offsets(forward)

    def _new_consumer_thread(self) -> Any:
        return ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)


class KretsloppProducer(faust_aiokafka.Producer):
    """The worker's producer (dead-letter topic): idempotent on Apache Kafka, as every
    kretslopp producer (``streams.producer``); faust-streaming enables idempotence only in
    its transactions, which kretslopp does not use. ``create_app`` sets the flag."""

    def _settings_extra(self) -> Any:
        extra = dict(super()._settings_extra())
        if getattr(self.app, "kretslopp_idempotent", False):
            extra.update(acks="all", enable_idempotence=True)
        return extra


class KretsloppTransport(faust_aiokafka.Transport):
    Consumer = KretsloppConsumer
    Producer = KretsloppProducer
