"""The Faust app: topic ``asset-lifecycle`` -> one batching agent -> PostgreSQL projections.

Settings follow ``docs/operations.md`` ("Faust"): at-least-once (exactly-once needs transactions the
embedded broker lacks, and has open upstream bugs), one agent instance (concurrency > 1 can
commit offsets past unfinished events, faust-streaming #606), a 10 s session so a worker joins
in ~5 s on Tansu, no leader topic, no web server (workers share a host in tests).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
import structlog
from faust.types import TP
from mode import CrashingSupervisor

from infra import faults
from infra.settings import Settings
from projections.batch import DeadLetter, SourceRecord, max_offsets
from projections.postgres.checkpoints import CheckpointWentBack
from streams import stack_dump
from streams.consumer import KretsloppConsumer, KretsloppTransport
from streams.dead_letter_topic import topic_record
from streams.metrics import WorkerMetrics
from streams.projector import Projector
from streams.watermarks import high_watermarks
from streams.write_lanes import WriteLanes

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AgentContext:
    projector: Projector
    bootstrap_servers: str
    topics_can_vanish: bool  # Tansu keeps topics in memory; Apache Kafka does not lose them


async def resume_at_checkpoints(app: faust.App, assigned: set[Any]) -> None:
    """Every partition of the topic assigned in a rebalance, kept ones too, resumes at its
    PostgreSQL checkpoint.

    Faust seeks each assigned partition to the group's *Kafka* offset after a rebalance.
    kretslopp commits a batch's offsets only once PostgreSQL holds it
    (``KretsloppConsumer.written``), but the two can still disagree: a commit lost in a crash
    leaves Kafka behind (records read twice, skipped by the checkpoint), and an offset moved
    by an operator, or a database restored from a backup, leaves Kafka ahead. So before
    Faust seeks, we commit the checkpoint (the next offset PostgreSQL has not applied) as the
    group's Kafka offset, and seek to it. PostgreSQL stays the single source of truth; a
    fresh database replays from the start.

    Faust tells agents only of *newly* assigned partitions; a partition a worker keeps
    across a rebalance used to resume at Kafka's offset, so this runs on the whole
    assignment, before Faust's own handler. A checkpoint below one this worker read or
    wrote before stops the worker (``checkpoints.CheckpointWentBack``): records fetched
    from beyond it may still be on their way to the writer, and a fresh process has none.
    """
    context: AgentContext = cast(Any, app).kretslopp
    projector = context.projector
    mine = sorted(
        (tp for tp in assigned if tp.topic == projector.topic), key=lambda tp: tp.partition
    )
    if not mine:
        return
    partitions = [tp.partition for tp in mine]
    seen_before = projector.seen()  # before the read: a write may commit while we read
    offsets = await projector.next_offsets(partitions)
    # A checkpoint beyond the log end means the topic was recreated (Tansu loses topics on
    # restart): its offsets start again at 0, so the old checkpoint is void.
    try:
        ends = await high_watermarks(context.bootstrap_servers, projector.topic)
    except Exception as exc:  # never fail an assignment over a diagnostic
        log.warning("could not read log ends; recreated-topic check skipped", error=repr(exc))
        ends = {}
    stale = [p for p in partitions if offsets[p] > ends.get(p, offsets[p])]
    if stale:
        dropped = await projector.forget_checkpoints(stale)
        # Tansu loses topics on every restart: expected. Apache Kafka keeps them, so there
        # the topic was deleted and created again, or the broker lost acknowledged records:
        # reset all the same (a re-read event is a duplicate by event_id, a new one must
        # count), but as an error an operator sees.
        report = log.warning if context.topics_can_vanish else log.error
        report(
            "topic was recreated: checkpoints beyond the log end reset to 0; re-read "
            "events are recognised as duplicates by event_id",
            dropped=dropped,
            log_end={p: ends[p] for p in stale},
            durable_broker=not context.topics_can_vanish,
        )
        offsets.update({p: 0 for p in stale})
    try:
        projector.resume_at(offsets, reset=set(stale), seen_before=seen_before)
    except CheckpointWentBack as exc:
        exit_at_once(exc)
    consumer = cast(Any, app.consumer)
    await consumer._thread.commit({tp: offsets[tp.partition] for tp in mine})
    for tp in mine:
        # aiokafka's seek_to_committed skips offset 0, so seek explicitly as well
        await consumer.seek(tp, offsets[tp.partition])
    log.info(
        "partitions resume at PostgreSQL checkpoints",
        checkpoints={tp.partition: offsets[tp.partition] for tp in mine},
    )


class KretsloppApp(faust.App):
    """A Faust app with kretslopp's consumer and producer (``streams.consumer``), resuming
    every assigned partition at its PostgreSQL checkpoint (:func:`resume_at_checkpoints`)."""

    def _new_transport(self) -> Any:
        return KretsloppTransport(self.conf.broker_consumer, self)

    async def _on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        if not self.should_stop:
            await resume_at_checkpoints(self, assigned)
        await super()._on_partitions_assigned(assigned, generation_id)


# A worker told to stop gives Faust this long to stop gracefully, then ends the process.
SHUTDOWN_DEADLINE_S = 20.0


class KretsloppWorker(faust.Worker):
    """Faust's worker with a deadline on stopping. Faust's stop waits on its consumer thread;
    on Apache Kafka, a worker told to stop in the middle of a rebalance was seen to wait for
    ever (tests/integration/test_cluster_faults.py, scale in under load), so a deploy or a
    scale-in never finished. After ``SHUTDOWN_DEADLINE_S`` the process exits anyway: nothing
    is lost by it - every batch is committed in PostgreSQL with its checkpoint, or not at all,
    exactly as after the SIGKILLs the fault suite deals out."""

    def _on_sigusr1(self) -> None:
        """``kill -USR1``: where every thread and task waits, into stderr
        (``streams.stack_dump``), and go on; mode's handler also printed local variables."""
        loops: dict[int, Any] = {threading.get_ident(): self.loop}
        for thread in threading.enumerate():
            # Faust's consumer thread (mode's WorkerThread) runs its own loop
            loop = getattr(getattr(thread, "service", None), "thread_loop", None)
            if loop is not None and thread.ident is not None:
                loops[thread.ident] = loop
        sys.stderr.write(stack_dump.stacks(loops))
        sys.stderr.flush()

    def _on_sigusr2(self) -> None:
        """mode enters a debugger on SIGUSR2: a worker would stop applying batches."""
        log.warning("SIGUSR2 ignored; kill -USR1 writes the worker's stacks to stderr")

    def _schedule_shutdown(self, signal: Any) -> None:
        if not self._signal_stop_time:
            threading.Thread(target=_exit_after_deadline, name="stop-deadline", daemon=True).start()
        super()._schedule_shutdown(signal)
        faults.reached("worker_stopping")


def _exit_after_deadline() -> None:
    time.sleep(SHUTDOWN_DEADLINE_S)
    log.warning(
        "worker did not stop in time; exiting anyway (every batch is committed or not at all)",
        deadline_s=SHUTDOWN_DEADLINE_S,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def broker_urls(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap_servers.split(","))


# EX_SOFTWARE: an internal error; a supervisor (systemd, Kubernetes) restarts the worker.
WRITER_FAILED_EXIT_CODE = 70


def exit_at_once(exc: BaseException) -> None:
    """The batch writer failed with an error that is not bad data (that is dead-lettered):
    stop the process now. A graceful Faust shutdown from here was seen to hang in the
    consumer's stop (fault suite), and nothing needs it: every partition resumes at its
    PostgreSQL checkpoint, exactly as after the SIGKILLs the fault suite deals out."""
    if isinstance(exc, CheckpointWentBack):
        log.critical(
            "PostgreSQL's checkpoints went back: exiting so the worker restarts at them and "
            "reads the events the database lost again from Kafka",
            checkpoints={p: found for p, (found, _) in exc.behind.items()},
            seen={p: seen for p, (_, seen) in exc.behind.items()},
            error=str(exc),
        )
    else:
        log.critical("batch writer failed; exiting so the worker restarts", error=repr(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(WRITER_FAILED_EXIT_CODE)


def worker_lanes(
    settings: Settings,
    write: Callable[[list[SourceRecord]], Awaitable[object]],
    on_failure: Callable[[BaseException], object],
) -> WriteLanes:
    """The worker's batches, written side by side in lanes of whole partitions
    (``streams.write_lanes``), each lane holding up to ``KRETSLOPP_WRITER_LANE_DEPTH`` waiting.

    The depth is what lets the lanes work at once. aiokafka hands its fetched records over a
    partition at a time (``Fetcher.fetched_records`` drains one partition's buffer before the
    next), so the agent's batches come in runs of one partition: [2] [2] [2] [2] [2] [2] [7]
    [2] [7] [7] [7] [7] [0] ... in a 200k-event run of the bench. With one batch waiting per
    lane, the agent stopped at the second batch of a run and the other lane stood idle: the
    worker process used ~0.7 of a core. With 8 waiting, every lane was busy from its first
    batch to the end. The worker alone, 2 lanes, 300k events, four alternating pairs: mean
    17,799 events/s with depth 1, 19,548 with 8 (+10 %). At most lanes x (depth + 1) batches
    of raw records wait in memory (3 x 9 x 2,000 by default)."""
    return WriteLanes(write, settings.writer_lanes, settings.writer_lane_depth, on_failure)


def create_app(settings: Settings) -> faust.App:
    kafka, _ = settings.require_endpoints()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = KretsloppApp(
        settings.consumer_group,
        broker=broker_urls(kafka),
        processing_guarantee="at_least_once",
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=2,
        broker_commit_interval=1.0,
        # one fetch is at most one batch: the agent takes whole fetches (fetched_batches)
        broker_max_poll_records=settings.batch_size,
        producer_acks=-1,
        stream_wait_empty=False,
        datadir=str(settings.data_dir / "faust"),
        store="memory://",
    )
    cast(Any, app).kretslopp_idempotent = settings.idempotent_producer
    cast(Any, app).kretslopp_topic = settings.topic
    raw_bytes: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    lifecycle = app.topic(settings.topic, partitions=settings.partitions, **raw_bytes)
    dead_letter_topic = app.topic(settings.dead_letter_topic, **raw_bytes)

    async def publish_dead_letters(letters: list[DeadLetter]) -> None:
        pending = []
        for letter in letters:
            key, value, headers = topic_record(letter, settings.topic)
            pending.append(await dead_letter_topic.send(key=key, value=value, headers=headers))
        for future in pending:
            await future  # on the broker before the batch's offsets can be acknowledged

    metrics: WorkerMetrics | None = None
    if settings.metrics_port is not None:
        metrics = WorkerMetrics()
        metrics.serve(settings.metrics_host, settings.metrics_port)

    def highwater(partition: int) -> int | None:
        """The log end the consumer saw in its last fetch of ``partition``."""
        try:
            end = cast(Any, app.consumer).highwater(TP(settings.topic, partition))
        except Exception:  # no fetch yet, or the partition moved to another worker
            return None
        return int(end) if end is not None else None

    projector = Projector(settings, publish_dead_letters, metrics, highwater)
    cast(Any, app).kretslopp = AgentContext(
        projector, kafka, topics_can_vanish=settings.broker_kind == "tansu"
    )

    # A crashed agent stops the worker. Faust's default supervisor restarts the agent where
    # the consumer stands, past a batch that was acknowledged but never written; a restarted
    # process resumes every partition at its PostgreSQL checkpoint instead (issue #11.2).
    @app.agent(lifecycle, concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def project(stream: Any) -> None:
        await projector.start()

        # Faust subscribes to a topic when an agent first iterates it; the records themselves
        # come as whole fetches (streams.fetched_batches), not through this stream.
        aiter(stream.channel)
        consumer = cast(KretsloppConsumer, app.consumer)

        async def write(records: list[SourceRecord]) -> None:
            await projector.handle(records)
            consumer.written(max_offsets(records))

        async with worker_lanes(settings, write, exit_at_once) as writer:
            async for records in consumer.fetched.batches(
                settings.batch_size, settings.batch_within_s
            ):
                await writer.put(records)

    return app
