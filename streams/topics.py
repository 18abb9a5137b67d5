"""Create the lifecycle and dead-letter topics if they are missing (idempotent)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = structlog.get_logger(__name__)


async def ensure_topics(
    bootstrap_servers: str, topics: dict[str, int], *, attempts: int = 30
) -> None:
    """``topics`` maps name -> partition count. Waits for the broker for up to ~attempts s."""
    last_error: Exception | None = None
    for _ in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name=name, num_partitions=count, replication_factor=1)
                for name, count in topics.items()
                if name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                log.info("topics created", topics=[t.name for t in missing])
            return
        except (KafkaError, OSError) as exc:
            last_error = exc
            await asyncio.sleep(1)
        finally:
            await admin.close()
    raise RuntimeError(f"Kafka at {bootstrap_servers} did not answer: {last_error!r}")
