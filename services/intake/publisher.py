"""Produce validated events to the lifecycle topic (acks=all), for the HTTP gateway, adapters
and imports. The producer starts on first use, so a read-only API needs no broker.

A send that fails retires the producer, and the next send starts a new one. aiokafka gives an
idempotent producer's batch its sequence numbers, then may fail it unsent (its partition had
no leader for the request timeout, as when the whole cluster restarts); the leader then refuses
every later batch of that producer to that partition as out of order, for the producer's life
(aio-libs/aiokafka#1017). Before, the gateway answered 503 to every POST until it was
restarted. A new producer has a new producer id, so its sequence numbers start afresh. Nothing
is counted twice: the caller sends the failed events again (a 503 asks it to), and an event
that did reach the topic is then a duplicate by ``event_id``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from events.codec import encode, partition_key
from events.models import LifecycleEvent
from streams.producer import KeyValue, new_producer

log = structlog.get_logger(__name__)


class Publisher:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        idempotent: bool,
        request_timeout_ms: int = 15_000,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._idempotent = idempotent
        self._request_timeout_ms = request_timeout_ms
        self.topic = topic
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = new_producer(
                    self._bootstrap,
                    idempotent=self._idempotent,
                    request_timeout_ms=self._request_timeout_ms,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()  # a broker that is down: no half-started client left
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, events: Sequence[LifecycleEvent]) -> None:
        """Returns once the broker has acknowledged every event; raises if it did not."""
        await self.publish_records([(partition_key(e), encode(e)) for e in events])

    async def publish_records(self, records: Sequence[KeyValue]) -> None:
        """``publish`` for records already encoded and keyed."""
        producer = await self._started()
        try:
            futures = [
                await producer.send(self.topic, value=value, key=key) for key, value in records
            ]
            # every future settles before the answer, so no failure goes unretrieved
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                raise failed
        except KafkaError as exc:
            self._retire(producer, exc)
            raise

    def _retire(self, producer: AIOKafkaProducer, exc: KafkaError) -> None:
        """The next send starts a new producer. The old one stops in the background: its
        batches still waiting for a leader end only at the request timeout."""
        if self._producer is not producer:
            return  # a concurrent send that failed on the same producer retired it already
        self._producer = None
        log.warning("producer retired after a failed send", topic=self.topic, error=repr(exc))
        task = asyncio.create_task(self._stop(producer))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _stop(producer: AIOKafkaProducer) -> None:
        try:
            await producer.stop()
        except KafkaError as exc:  # its sends have failed already; nothing is waiting on it
            log.warning("a retired producer did not stop cleanly", error=repr(exc))

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._retiring:
            await asyncio.gather(*self._retiring)
