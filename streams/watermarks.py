"""High-water marks per partition, read from fetch responses.

Tansu answers ListOffsets "latest" with the last batch's base offset + 1, not the log end
(``docs/operations.md``); the high-water mark in a fetch response is right on every broker.
So: seek just before the ListOffsets answer, fetch once, read the high-water mark.

``high_watermarks`` is one-shot (a command, a worker's partition assignment);
``WatermarkReader`` keeps one consumer for a long-lived process (the API's ``/v1/status``).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition


def _consumer(bootstrap_servers: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_bytes=1024 * 1024,
        max_partition_fetch_bytes=64 * 1024,
    )


async def _read(consumer: AIOKafkaConsumer, topic: str, timeout_s: float) -> dict[int, int]:
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return {}
    consumer.assign(tps)  # a fresh assignment: no high-water mark from an earlier read
    listed = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, max(listed[tp] - 1, 0))
    deadline = time.monotonic() + timeout_s
    found: dict[int, int] = {}
    while len(found) < len(tps) and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=1)
        for tp in tps:
            hw = consumer.highwater(tp)
            if hw is not None:
                found[tp.partition] = hw
        await asyncio.sleep(0)
    for tp in tps:  # a partition that never answered: the listed offset is a lower bound
        found.setdefault(tp.partition, listed[tp])
    return found


async def high_watermarks(
    bootstrap_servers: str, topic: str, *, timeout_s: float = 5.0
) -> dict[int, int]:
    consumer = _consumer(bootstrap_servers)
    await consumer.start()
    try:
        return await _read(consumer, topic, timeout_s)
    finally:
        await consumer.stop()


class WatermarkReader:
    """One consumer, started on first use and reused; dropped after an error so the next read
    connects again. Reads run one at a time."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def read(self, timeout_s: float = 5.0) -> dict[int, int]:
        async with self._lock:
            if self._consumer is None:
                consumer = _consumer(self._bootstrap)
                await consumer.start()
                self._consumer = consumer
            try:
                return await _read(self._consumer, self._topic, timeout_s)
            except Exception:
                await self._drop()
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
