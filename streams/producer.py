"""Produce lifecycle events to Kafka with acks=all, keyed by (tenant, asset).

The key puts every event of one asset of one tenant on one partition, so the projector sees
them in the order they were produced. On Apache Kafka the producer is idempotent: a retried
send is written once and in order. Tansu has no idempotent producer (``docs/operations.md``),
so there a retry may duplicate a record; ``event_id`` makes that harmless on either broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer

from events.codec import encode, partition_key
from events.models import LifecycleEvent

KeyValue = tuple[bytes | None, bytes]


def new_producer(
    bootstrap_servers: str,
    *,
    idempotent: bool,
    request_timeout_ms: int = 30_000,
    max_request_size: int | None = None,
) -> AIOKafkaProducer:
    """The one producer configuration of kretslopp (gateway, adapters, import, produce, tests):
    acks=all; idempotent where the broker can be (``Settings.idempotent_producer``: Apache
    Kafka, not Tansu); 5 ms linger and 256 KiB batches. The gateway passes a shorter request
    timeout so an HTTP client hears "retry" (503) within 15 s."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        enable_idempotence=idempotent,
        request_timeout_ms=request_timeout_ms,
        **({"max_request_size": max_request_size} if max_request_size else {}),
    )


@asynccontextmanager
async def kafka_producer(
    bootstrap_servers: str, *, idempotent: bool, max_request_size: int | None = None
) -> AsyncIterator[AIOKafkaProducer]:
    producer = new_producer(
        bootstrap_servers, idempotent=idempotent, max_request_size=max_request_size
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def keyed(events: Iterable[LifecycleEvent]) -> list[KeyValue]:
    return [(partition_key(e), encode(e)) for e in events]


async def send_all(
    producer: AIOKafkaProducer, topic: str, records: Iterable[KeyValue], *, window: int = 5000
) -> int:
    """Send and wait for every acknowledgement; at most ``window`` records in flight."""
    pending: list[asyncio.Future[object]] = []
    sent = 0
    for key, value in records:
        pending.append(await producer.send(topic, value=value, key=key))
        sent += 1
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    if pending:
        await asyncio.gather(*pending)
    return sent
