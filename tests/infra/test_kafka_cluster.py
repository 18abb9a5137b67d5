"""The local Apache Kafka cluster's pure parts: which jars it accepts, what it needs, how its
nodes are configured. The cluster itself runs in tests/integration (every test on Kafka too)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import pytest

from infra import kafka_cluster
from infra.kafka_cluster import KafkaCluster, KafkaNode, cluster_id, kafka_version, verified


@pytest.fixture
def pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two jars and a digest list that names exactly them."""
    libs = tmp_path / "libs"
    libs.mkdir()
    lines = ["# test digests"]
    for name, body in (("a-1.jar", b"first"), ("b-2.jar", b"second")):
        (libs / name).write_bytes(body)
        lines.append(f"{hashlib.sha256(body).hexdigest()}  {name}")
    digests = tmp_path / "jars.sha256"
    digests.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(kafka_cluster, "DIGESTS", digests)
    return libs


def test_exactly_the_pinned_jars_are_accepted(pinned: Path) -> None:
    assert verified(pinned)


def test_a_changed_jar_is_refused(pinned: Path) -> None:
    (pinned / "a-1.jar").write_bytes(b"first, tampered")
    assert not verified(pinned)


def test_a_missing_or_an_extra_jar_is_refused(pinned: Path) -> None:
    (pinned / "c-3.jar").write_bytes(b"extra")
    assert not verified(pinned)
    (pinned / "c-3.jar").unlink()
    (pinned / "b-2.jar").unlink()
    assert not verified(pinned)


def test_the_committed_digests_pin_the_pom_version() -> None:
    names = kafka_cluster.expected_digests()
    assert f"kafka_2.13-{kafka_version()}.jar" in names
    assert f"kafka-clients-{kafka_version()}.jar" in names
    assert all(len(d) == 64 for d in names.values())


def test_without_java_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(kafka_cluster, "java_binary", lambda: None)
    assert "Java 17" in (kafka_cluster.unavailable_reason(tmp_path) or "")
    monkeypatch.setattr(kafka_cluster, "java_binary", lambda: "/usr/bin/java")
    monkeypatch.setattr(kafka_cluster, "java_major", lambda java: 11)
    assert "needs Java 17" in (kafka_cluster.unavailable_reason(tmp_path) or "")
    monkeypatch.setattr(kafka_cluster, "java_major", lambda java: 17)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "mvn" in (kafka_cluster.unavailable_reason(tmp_path) or "")


def test_cluster_ids_are_kraft_shaped() -> None:
    ids = {cluster_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 22 and "=" not in i for i in ids)


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kafka-storage format --cluster-id -Ab...` reads the id as an option and fails; one
    random id in 64 starts with "-" (0xf8-0xfb as its first byte)."""
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    assert cluster_id() == base64.urlsafe_b64encode(b"\x10" + bytes(15)).decode().rstrip("=")
    monkeypatch.undo()
    assert not any(cluster_id().startswith("-") for _ in range(2000))


def test_three_nodes_replicate_three_times_and_need_two_in_sync(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path, tmp_path / "libs", size=3)
    node = KafkaNode(2, 9092, 9192, tmp_path / "node-2", tmp_path / "libs")
    cluster._configure(node, "1@127.0.0.1:9191,2@127.0.0.1:9192,3@127.0.0.1:9193")
    written = dict(line.split("=", 1) for line in node.config_path.read_text().splitlines() if line)
    assert written["node.id"] == "2"
    assert written["default.replication.factor"] == "3"
    assert written["min.insync.replicas"] == "2"
    assert written["offsets.topic.replication.factor"] == "3"
    assert written["auto.create.topics.enable"] == "false"
    assert written["log.dirs"] == str(tmp_path / "node-2" / "data")
    single = KafkaCluster(tmp_path, tmp_path / "libs", size=1).cluster_properties()
    assert (single["default.replication.factor"], single["min.insync.replicas"]) == ("1", "1")
