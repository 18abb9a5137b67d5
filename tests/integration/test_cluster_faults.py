"""Faults on a real 3-node Apache Kafka cluster (KRaft, replication 3, min.insync.replicas 2),
with events flowing throughout and at least two workers. Every case ends with one exact
invariant: every record on the topic is applied or counted as a duplicate exactly once (dead
letters 0); asset states = fold of the event log = fold of the distinct events produced; KPIs =
one-pass recomputation; each checkpoint = the partition's log end.

The cluster is this module's own (the faults must not reach other tests); its nodes are healed
after every case. Skipped, with the reason printed at the end, where Java 17 or Maven is missing.
"""

from __future__ import annotations

import asyncio
import random
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from events.codec import decode_object
from infra.embedded import Endpoints, embedded_stack
from infra.kafka_cluster import KafkaCluster, unavailable_reason
from infra.settings import Settings
from projections.postgres.connection import connect
from services.intake.publisher import Publisher
from streams.watermarks import high_watermarks
from tests.factories import as_record, fleet
from tests.integration.conftest import (
    KAFKA_LIBS,
    SKIPPED_BROKERS,
    StackEnv,
    api_on,
    auth,
    brokers_under_test,
    checkpoints,
    env_on,
    records_of,
    totals,
    wait_for_totals,
    wait_until_applied,
)
from tests.integration.invariants import assert_projection_is_fold_of

pytestmark = pytest.mark.cluster_faults


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    if "kafka" not in brokers_under_test():
        pytest.skip("KRETSLOPP_BROKER=tansu: the Apache Kafka cluster fault suite is not run")
    reason = unavailable_reason(KAFKA_LIBS)
    if reason:
        SKIPPED_BROKERS["kafka"] = reason
        pytest.skip(f"Apache Kafka runs skipped: {reason}")
    settings = Settings(
        broker="kafka", broker_port=0, data_dir=tmp_path_factory.mktemp("cluster-faults")
    )
    with embedded_stack(settings, kafka_libs=KAFKA_LIBS) as endpoints:
        yield endpoints


@pytest_asyncio.fixture
async def cenv(cluster_stack: Endpoints, tmp_path: Path) -> AsyncIterator[StackEnv]:
    cluster = cluster_stack.cluster
    assert cluster is not None
    async with env_on(cluster_stack, tmp_path) as env:
        try:
            yield env
        finally:
            for w in env.workers:
                w.kill()
            await asyncio.to_thread(heal, cluster)
            await wait_fully_replicated(cluster.bootstrap_servers)


def the_cluster(env: StackEnv) -> KafkaCluster:
    assert env.stack is not None and env.stack.cluster is not None
    return env.stack.cluster


def heal(cluster: KafkaCluster) -> None:
    """Every node running again, whatever the case did to it."""
    for node in cluster.nodes:
        if node.running:
            node.resume()
        else:
            cluster.start_node(node)


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    return admin


async def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> node id of its leader."""
    admin = await _admin(bootstrap)
    try:
        (described,) = await admin.describe_topics([topic])
        return {p["partition"]: p["leader"] for p in described["partitions"]}
    finally:
        await admin.close()


async def wait_for_leader(bootstrap: str, topic: str, node: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    led: dict[int, int] | str = {}
    while time.monotonic() < deadline:
        try:
            led = await leaders(bootstrap, topic)
            if set(led.values()) == {node}:
                return
        except KafkaError as exc:
            led = repr(exc)
        await asyncio.sleep(0.5)
    raise AssertionError(f"{topic}: leaders {led} after {timeout_s}s, not node {node}")


async def coordinator(bootstrap: str, group: str) -> int:
    admin = await _admin(bootstrap)
    try:
        return int(await admin.find_coordinator(group))
    finally:
        await admin.close()


async def described_partitions(bootstrap: str) -> list[tuple[str, dict[str, Any]]]:
    """(topic, partition as described: leader, replicas, isr) for every partition."""
    admin = await _admin(bootstrap)
    try:
        described = await admin.describe_topics(await admin.list_topics())
    finally:
        await admin.close()
    return [(t["topic"], p) for t in described for p in t["partitions"]]


async def wait_fully_replicated(bootstrap: str, timeout_s: float = 120) -> None:
    """Until every partition of every topic has all three replicas in sync (a rolling restart
    moves on only then, as the Apache Kafka operations guide says)."""
    deadline = time.monotonic() + timeout_s
    lagging: list[Any] = []
    while time.monotonic() < deadline:
        try:
            lagging = [
                (topic, p["partition"], p["isr"])
                for topic, p in await described_partitions(bootstrap)
                if len(p["isr"]) < len(p["replicas"])
            ]
            if not lagging:
                return
        except KafkaError as exc:
            lagging = [repr(exc)]
        await asyncio.sleep(0.5)
    raise AssertionError(f"partitions still under-replicated after {timeout_s}s: {lagging}")


async def partition_states(bootstrap: str) -> list[str]:
    """One line per partition of every topic: leader, replicas, ISR."""
    return [
        f"{topic}-{p['partition']}: leader {p['leader']}, replicas {p['replicas']}, isr {p['isr']}"
        for topic, p in sorted(
            await described_partitions(bootstrap), key=lambda tp: (tp[0], tp[1]["partition"])
        )
    ]


class LogsSince:
    """The nodes' server logs from now on (a case's own part of them)."""

    def __init__(self, cluster: KafkaCluster) -> None:
        self.cluster = cluster
        self.positions = {
            n.node_id: n.log_path.stat().st_size if n.log_path.exists() else 0
            for n in cluster.nodes
        }

    def warnings(self, per_node: int = 40) -> str:
        out = []
        for node in self.cluster.nodes:
            with node.log_path.open("rb") as f:
                f.seek(self.positions.get(node.node_id, 0))
                lines = [
                    line.decode(errors="replace").rstrip()
                    for line in f
                    if b"] WARN " in line or b"] ERROR " in line
                ]
            out.append(
                f"node {node.node_id} ({node.log_path}), last {per_node} of {len(lines)} warnings:"
            )
            out.extend(line[:400] for line in lines[-per_node:])
        return "\n".join(out)


def history(seed: int, assets: int = 400, events_per_asset: int = 12) -> list[dict[str, Any]]:
    """A fleet's events, with 5 % sent again later (a producer's retry, a re-sent file)."""
    objects = fleet(assets=assets, events_per_asset=events_per_asset, seed=seed)
    rng = random.Random(seed)
    again = rng.sample(objects, len(objects) // 20)
    for obj in again:
        objects.insert(rng.randrange(objects.index(obj) + 1, len(objects) + 1), obj)
    return objects


class Flow:
    """Events produced in chunks over ``seconds`` through whatever the cluster does: a chunk
    whose send fails is sent again, as any producer's caller would (the idempotent producer
    already retries inside; a re-sent record is a duplicate by ``event_id``)."""

    def __init__(self, env: StackEnv, objects: list[dict[str, Any]], seconds: float) -> None:
        self.env = env
        cluster = None if env.stack is None else env.stack.cluster
        self.logs = LogsSince(cluster) if cluster is not None else None
        self.objects = objects
        self.seconds = seconds
        self.resent = 0
        self.sent = 0
        self.task: asyncio.Task[None] | None = None
        self.progressed_at = time.monotonic()
        self.last_error = ""  # why the last chunk that failed did

    def start(self) -> Flow:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        """Through the gateway's publisher, which starts a new producer after a failed send."""
        chunks = [self.objects[i : i + 100] for i in range(0, len(self.objects), 100)]
        pause = self.seconds / len(chunks)
        publisher = Publisher(self.env.kafka, self.env.settings.topic, idempotent=True)
        try:
            for chunk in chunks:
                records = [as_record(o) for o in chunk]
                while True:
                    try:
                        await publisher.publish_records(records)
                        break
                    except KafkaError as exc:
                        self.resent += 1
                        self.last_error = repr(exc)
                        await asyncio.sleep(0.5)
                self.sent += len(chunk)
                self.progressed_at = time.monotonic()
                await asyncio.sleep(pause)
        finally:
            await publisher.close()

    async def until(self, fraction: float) -> None:
        while self.sent < fraction * len(self.objects):
            assert self.task is not None
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.1)

    def state(self) -> str:
        return (
            f"flow: {self.sent}/{len(self.objects)} sent, {self.resent} chunks sent again, "
            f"last chunk acknowledged {time.monotonic() - self.progressed_at:.0f}s ago, "
            f"last failure {self.last_error or 'none'}"
        )

    async def cluster_state(self) -> str:
        """Each partition's leader and ISR, and what each node logged at WARN or above
        since the flow started: what a stalled producer was waiting for."""
        if self.logs is None:
            return ""
        try:
            partitions = await partition_states(self.logs.cluster.bootstrap_servers)
        except KafkaError as exc:
            partitions = [f"topics could not be described: {exc!r}"]
        return "\n".join([*partitions, self.logs.warnings()])

    async def done(self, stalled_s: float = 120) -> None:
        """Until every chunk is acknowledged; fails with the flow's state if, after the fault
        is over (from this call on), no chunk was for ``stalled_s``: the producer, not the
        workers, is then what stopped."""
        assert self.task is not None
        called = time.monotonic()
        while not self.task.done():
            if time.monotonic() - max(self.progressed_at, called) > stalled_s:
                self.task.cancel()
                raise AssertionError(
                    f"the producer stalled: {self.state()}\n{await self.cluster_state()}"
                )
            await asyncio.wait([self.task], timeout=1)
        self.task.result()


async def assert_exact(env: StackEnv, objects: list[dict[str, Any]]) -> None:
    """The invariant, against the log ends the cluster reports once the flow has ended."""
    ends = await high_watermarks(env.kafka, env.settings.topic)
    await wait_until_applied(env, {p: e - 1 for p, e in ends.items() if e > 0}, timeout_s=240)
    distinct = len({o["event_id"] for o in objects})
    applied, duplicates, dead = await totals(env)
    assert (applied, dead) == (distinct, 0)
    assert applied + duplicates == sum(ends.values()), "every record counted exactly once"
    conn = await connect(env.dsn)
    try:
        assert await checkpoints(conn, env) == {p: e for p, e in ends.items() if e > 0}
    finally:
        await conn.close()
    await assert_projection_is_fold_of(env, objects)


async def run_case(
    env: StackEnv, seed: int, fault: Callable[[Flow], Awaitable[None]], *, workers: int = 2
) -> Flow:
    objects = history(seed)
    for i in range(workers):
        env.worker(f"w{i}")
    flow = Flow(env, objects, seconds=30).start()
    await flow.until(0.3)
    await fault(flow)
    await flow.done()
    await assert_exact(env, objects)
    for w in env.workers[:workers]:
        assert w.process is not None and w.process.poll() is None, w.log()[-3000:]
    return flow


async def test_leader_of_the_consumed_partitions_killed(cenv: StackEnv) -> None:
    cluster = the_cluster(cenv)

    async def fault(flow: Flow) -> None:
        led = await leaders(cluster.bootstrap_servers, cenv.settings.topic)
        busiest = max(set(led.values()), key=list(led.values()).count)
        cluster.node(busiest).kill()
        await flow.until(0.7)  # the group keeps going on the other two
        assert (await leaders(cluster.bootstrap_servers, cenv.settings.topic)).keys() == led.keys()
        assert (
            busiest not in (await leaders(cluster.bootstrap_servers, cenv.settings.topic)).values()
        )

    await run_case(cenv, 101, fault)


async def test_group_coordinator_killed(cenv: StackEnv) -> None:
    cluster = the_cluster(cenv)

    async def fault(flow: Flow) -> None:
        await wait_for_totals(cenv, 1)  # the group exists and has committed
        node = await coordinator(cluster.bootstrap_servers, cenv.settings.consumer_group)
        cluster.node(node).kill()
        await flow.until(0.7)
        assert await coordinator(cluster.bootstrap_servers, cenv.settings.consumer_group) != node

    await run_case(cenv, 102, fault)


async def test_broker_frozen_longer_than_the_session_timeout(cenv: StackEnv) -> None:
    """SIGSTOP for 15 s (broker session 6 s, consumer session 10 s), then SIGCONT: the frozen
    node is fenced, its partitions move, and it rejoins and catches up."""
    cluster = the_cluster(cenv)

    async def fault(flow: Flow) -> None:
        led = await leaders(cluster.bootstrap_servers, cenv.settings.topic)
        frozen = cluster.node(led[0])
        frozen.pause()
        try:
            await asyncio.sleep(15)
        finally:
            frozen.resume()

    await run_case(cenv, 103, fault)
    await wait_fully_replicated(cluster.bootstrap_servers)


async def stop_and_start(cluster: KafkaCluster, attempts: int = 2) -> None:
    """The whole cluster stopped and started again, until every partition is fully replicated
    (an operator's restart is over only then).

    In two of five full suite runs on the 2-core machine (December 2026) the producer then
    stalled for minutes; in the second, a partition stayed at one in-sync replica and every
    send got NotEnoughReplicas. That is the broker's to fix, not ours, and durability holds
    (the producer is refused; nothing is acknowledged with one copy). What an operator does
    then is restart again, so a case restarts once more, and says so in a warning with the
    cluster's state and the nodes' warnings, rather than fail on what Kafka did. Whether the
    workers and producers recover is still the case's to show, against the exact invariant.

    A third stall (CI, 6 December 2026) was ours, not the broker's: every send was refused as
    out of order, for good, because aiokafka had failed a batch unsent after giving it its
    sequence numbers. The Flow sends through the gateway's publisher now, which starts a new
    producer after a failed send (``test_the_gateway_sends_again_after_a_partition_had_no_leader``).
    """
    for attempt in range(1, attempts + 1):
        logs = LogsSince(cluster)
        await asyncio.to_thread(cluster.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(cluster.start)
        try:
            await wait_fully_replicated(cluster.bootstrap_servers)
            return
        except AssertionError as exc:
            if attempt == attempts:
                raise AssertionError(f"{exc}\n{logs.warnings()}") from None
            states = "\n".join(await partition_states(cluster.bootstrap_servers))
            warnings.warn(
                f"the cluster was not fully replicated after restart {attempt}; restarting "
                f"it again. {exc}\n{states}\n{logs.warnings(per_node=15)}",
                stacklevel=1,
            )


@pytest.mark.timeout(720)  # a node can take 60 s to stop; let the case's own waits report
async def test_whole_cluster_stopped_and_restarted(cenv: StackEnv) -> None:
    """Topics, records and committed offsets are on disk: after a full stop and start the
    workers (still running, retrying) resume, and nothing is applied twice."""
    cluster = the_cluster(cenv)

    async def fault(flow: Flow) -> None:
        before = await high_watermarks(cluster.bootstrap_servers, cenv.settings.topic)
        await stop_and_start(cluster)
        after = await high_watermarks(cluster.bootstrap_servers, cenv.settings.topic)
        assert all(after[p] >= before[p] for p in before), (before, after)

    await run_case(cenv, 104, fault)


async def test_the_gateway_sends_again_after_a_partition_had_no_leader(cenv: StackEnv) -> None:
    """aiokafka gives an idempotent producer's batch its sequence numbers, then fails it unsent
    when its partition has had no leader for the request timeout (aio-libs/aiokafka#1017).
    The partition's leader then refuses every later batch of that producer as out of order,
    for the producer's life: the gateway answered 503 to every POST until it was restarted
    (found when the whole cluster was restarted in CI, December 2026). The gateway's
    publisher starts a new producer, with a new producer id, after a send fails."""
    cluster = the_cluster(cenv)
    topic = f"{cenv.settings.topic}-one-copy"
    admin = await _admin(cluster.bootstrap_servers)
    try:  # one replica, on node 3: stopping node 3 leaves the partition without a leader
        await admin.create_topics([NewTopic(topic, -1, -1, replica_assignments={0: [3]})])
    finally:
        await admin.close()
    await wait_for_leader(cluster.bootstrap_servers, topic, 3)
    events = [decode_object(o) for o in fleet(assets=3, events_per_asset=3)]
    first, unsent, last = events[:3], events[3:6], events[6:]
    publisher = Publisher(
        cluster.bootstrap_servers, topic, idempotent=True, request_timeout_ms=3000
    )
    try:
        await publisher.publish(first)
        node = cluster.node(3)
        node.terminate()
        await asyncio.to_thread(node.wait_stopped, 60)
        with pytest.raises(KafkaError):  # the batch expires: no leader for 3 s
            await publisher.publish(unsent)
        await asyncio.to_thread(cluster.start_node, node)
        await wait_for_leader(cluster.bootstrap_servers, topic, 3)
        failures: list[str] = []
        for _ in range(3):  # a client sends again on 503, as the API asks it to
            try:
                await publisher.publish(last)
                break
            except KafkaError as exc:
                failures.append(repr(exc))
                await asyncio.sleep(1)
        else:
            raise AssertionError(f"every send after the node came back failed: {failures}")
    finally:
        await publisher.close()
    on_topic = [
        orjson.loads(r.value)["event_id"]
        for r in await records_of(cluster.bootstrap_servers, topic)
    ]
    assert sorted(on_topic) == sorted(str(e.event_id) for e in first + last)


async def test_rolling_restart_while_the_gateway_accepts_events(cenv: StackEnv) -> None:
    """Each node in turn: controlled shutdown, start, wait until every partition is fully
    replicated again. Clients POST batches to the gateway all along and send a batch again on
    503 (as the API asks them to); every event the gateway accepted with 202 is applied once."""
    cluster = the_cluster(cenv)
    objects = [
        o for o in fleet(assets=300, events_per_asset=10, seed=105) if o["tenant_id"] == "tenant-0"
    ]
    headers = await auth(cenv, "tenant-0")
    for i in range(2):
        cenv.worker(f"w{i}")
    accepted: list[dict[str, Any]] = []
    statuses: dict[int, int] = {}

    async def client(share: list[dict[str, Any]], base: str) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            for i in range(0, len(share), 25):
                batch = share[i : i + 25]
                while True:
                    answer = await http.post("/v1/tenants/tenant-0/events", json=batch)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code == 202:
                        accepted.extend(batch)
                        break
                    assert answer.status_code == 503, answer.text
                    await asyncio.sleep(0.5)
                await asyncio.sleep(0.3)

    async with api_on(cenv) as base:
        # each asset's events from one client, in order, as one ITSM tool would send them
        by_asset: dict[str, list[dict[str, Any]]] = {}
        for o in objects:
            by_asset.setdefault(o["asset_id"], []).append(o)
        shares: list[list[dict[str, Any]]] = [[], [], []]
        for i, events in enumerate(by_asset.values()):
            shares[i % 3].extend(events)
        clients = asyncio.gather(*(client(share, base) for share in shares))
        for node in cluster.nodes:
            await asyncio.sleep(3)
            node.terminate()
            await asyncio.to_thread(node.wait_stopped, 60)
            await asyncio.to_thread(cluster.start_node, node)
            await wait_fully_replicated(cluster.bootstrap_servers)
        await clients
    assert sorted(o["event_id"] for o in accepted) == sorted(o["event_id"] for o in objects)
    assert statuses.get(202, 0) > 0
    await assert_exact(cenv, accepted)


async def test_scale_out_to_three_workers_and_back_to_one(cenv: StackEnv) -> None:
    objects = history(106)
    first = cenv.worker("first")
    flow = Flow(cenv, objects, seconds=30).start()
    await flow.until(0.25)
    second, third = cenv.worker("second"), cenv.worker("third")
    await flow.until(0.55)
    await wait_for_totals(cenv, 1)
    assert second.terminate() == 0 and third.terminate() == 0  # SIGTERM: a clean leave
    await flow.done()
    await assert_exact(cenv, objects)
    assert first.process is not None and first.process.poll() is None


async def test_topics_are_what_production_runs(cenv: StackEnv) -> None:
    """3 replicas, min.insync.replicas 2, on every node; the worker's producer idempotent."""
    cluster = the_cluster(cenv)
    assert (cluster.size, cluster.replication_factor, cluster.min_insync_replicas) == (3, 3, 2)
    assert cenv.settings.idempotent_producer and cenv.settings.topic_replication == 3
    admin = await _admin(cluster.bootstrap_servers)
    try:
        described = await admin.describe_topics(
            [cenv.settings.topic, cenv.settings.dead_letter_topic]
        )
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, cenv.settings.topic)]
        )
    finally:
        await admin.close()
    replicas = {len(p["replicas"]) for t in described for p in t["partitions"]}
    assert replicas == {3}
    entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
    assert entries["min.insync.replicas"] == "2"
    # a plain client settings view of a configured cluster defaults to the same
    settings = replace(Settings(), kafka_bootstrap_servers=cluster.bootstrap_servers)
    assert settings.broker_kind == "kafka" and settings.idempotent_producer
    assert settings.topic_replication == 3
