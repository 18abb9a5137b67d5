"""The Faust app: topic ``asset-lifecycle`` -> one batching agent -> PostgreSQL projections.

Settings follow ``shared/platform.md``: at-least-once (exactly-once needs transactions the
embedded broker lacks, and has open upstream bugs), one agent instance (concurrency > 1 can
commit offsets past unfinished events, faust-streaming #606), a 10 s session so a worker joins
in ~5 s on Tansu, no leader topic, no web server (workers share a host in tests).
"""

from __future__ import annotations

from typing import Any

import faust
import structlog

from infra.settings import Settings
from projections.batch import DeadLetter, SourceRecord
from streams.projector import Projector

log = structlog.get_logger(__name__)


class CheckpointAgent(faust.Agent):  # type: ignore[misc]
    """An agent that resumes each newly assigned partition at its PostgreSQL checkpoint.

    Faust seeks to the *Kafka* committed offset after a rebalance. That offset can be ahead of
    what PostgreSQL holds: Faust acknowledges a batch's events when the batch generator is
    closed, also when a shutdown cancelled the write. So before Faust seeks, we commit the
    checkpoint (the next offset PostgreSQL has not applied) as the group's Kafka offset, and
    seek to it.
    PostgreSQL stays the single source of truth; a fresh database replays from the start.
    """

    async def on_shared_partitions_assigned(self, assigned: set[Any]) -> None:
        await super().on_shared_partitions_assigned(assigned)
        projector: Projector = self.app.kretslopp_projector
        mine = [tp for tp in assigned if tp.topic == projector.topic]
        if not mine:
            return
        offsets = await projector.next_offsets(sorted(tp.partition for tp in mine))
        consumer = self.app.consumer
        await consumer._thread.commit({tp: offsets[tp.partition] for tp in mine})
        for tp in mine:
            # aiokafka's seek_to_committed skips offset 0, so seek explicitly as well
            await consumer.seek(tp, offsets[tp.partition])
        log.info(
            "partitions resume at PostgreSQL checkpoints",
            checkpoints={tp.partition: offsets[tp.partition] for tp in mine},
        )


def broker_urls(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap_servers.split(","))


def create_app(settings: Settings) -> faust.App:
    kafka, _ = settings.require_endpoints()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=broker_urls(kafka),
        processing_guarantee="at_least_once",
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=2,
        broker_commit_interval=1.0,
        producer_acks=-1,
        stream_wait_empty=False,
        datadir=str(settings.data_dir / "faust"),
        store="memory://",
        Agent=CheckpointAgent,
    )
    lifecycle = app.topic(
        settings.topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    dead_letter_topic = app.topic(
        settings.dead_letter_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def publish_dead_letters(letters: list[DeadLetter]) -> None:
        pending = []
        for letter in letters:
            headers = {
                "kretslopp-source-topic": settings.topic.encode(),
                "kretslopp-source-partition": str(letter.record.partition).encode(),
                "kretslopp-source-offset": str(letter.record.offset).encode(),
                "kretslopp-reason-kind": letter.kind.encode(),
                "kretslopp-reason": letter.reason.encode()[:4000],
            }
            if letter.field:
                headers["kretslopp-field"] = letter.field.encode()
            pending.append(
                await dead_letter_topic.send(
                    key=letter.record.key, value=letter.record.value or b"", headers=headers
                )
            )
        for future in pending:
            await future  # on the broker before the batch's offsets can be acknowledged

    projector = Projector(settings, publish_dead_letters)
    app.kretslopp_projector = projector

    @app.agent(lifecycle, concurrency=1)
    async def project(stream: Any) -> None:
        await projector.start()
        async for events in stream.take_events(settings.batch_size, settings.batch_within_s):
            records = [
                SourceRecord(
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                )
                for e in events
            ]
            await projector.handle(records)

    return app
