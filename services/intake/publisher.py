"""Produce validated events to the lifecycle topic (acks=all), for the HTTP gateway, adapters
and imports. The producer starts on first use, so a read-only API needs no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from events.codec import encode, partition_key
from events.models import LifecycleEvent
from streams.producer import new_producer


class Publisher:
    def __init__(self, bootstrap_servers: str, topic: str, *, idempotent: bool) -> None:
        self._bootstrap = bootstrap_servers
        self._idempotent = idempotent
        self.topic = topic
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = new_producer(
                    self._bootstrap, idempotent=self._idempotent, request_timeout_ms=15_000
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def publish(self, events: Sequence[LifecycleEvent]) -> None:
        """Returns once the broker has acknowledged every event; raises if it did not."""
        producer = await self._started()
        futures = [
            await producer.send(self.topic, value=encode(e), key=partition_key(e)) for e in events
        ]
        await asyncio.gather(*futures)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
