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

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def on_assigned(app: faust.App, assigned: set[Any], **_: Any) -> None:
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in assigned))

    app.conf.kretslopp_projector = projector  # type: ignore[attr-defined]
    return app
