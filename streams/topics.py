"""Create the lifecycle and dead-letter topics if they are missing (idempotent)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from infra.settings import Settings

log = structlog.get_logger(__name__)


async def ensure_topics(
    bootstrap_servers: str, topics: dict[str, int], *, replication: int, attempts: int = 30
) -> None:
    """``topics`` maps name -> partition count. Waits for the broker for up to ~attempts s.

    ``replication`` replicas, of which ``min.insync.replicas`` = one less (at least 1): with
    3 replicas, one broker may be down while acks=all producers go on, and an acknowledged
    record is on two brokers at least."""
    last_error: Exception | None = None
    for _ in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name=name,
                    num_partitions=count,
                    replication_factor=replication,
                    topic_configs={"min.insync.replicas": str(max(1, replication - 1))},
                )
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


async def ensure_lifecycle_topics(settings: Settings, *, dead_letters: bool = True) -> None:
    """The lifecycle topic (and the dead-letter topic) as the settings declare them."""
    kafka, _ = settings.require_endpoints()
    topics = {settings.topic: settings.partitions}
    if dead_letters:
        topics[settings.dead_letter_topic] = 1
    await ensure_topics(kafka, topics, replication=settings.topic_replication)
