"""High-water marks per partition, read from fetch responses.

Tansu answers ListOffsets "latest" with the last batch's base offset + 1, not the log end
(``docs/operations.md``); the high-water mark in a fetch response is right on every broker.
So: seek just before the ListOffsets answer, fetch once, read the high-water mark.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition


async def high_watermarks(
    bootstrap_servers: str, topic: str, *, timeout_s: float = 5.0
) -> dict[int, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_bytes=1024 * 1024,
        max_partition_fetch_bytes=64 * 1024,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        consumer.assign(tps)
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
    finally:
        await consumer.stop()
