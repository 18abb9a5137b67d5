"""A local Apache Kafka cluster (KRaft, 1 or 3 combined broker+controller nodes), from Maven
Central, for ``up --broker kafka``, the test suite and the bench.

Tansu is what ``up`` runs with nothing but Python; this is what proves the guarantees on the
engine our users run. The broker's jars come at the exact versions in ``infra/kafka/pom.xml``
through ``mvn dependency:copy-dependencies`` and are checked against ``infra/kafka/jars.sha256``
(every jar, by SHA-256, and no other jar) before a JVM ever loads them; the checked set is
cached, so only the first start downloads (~55 MB, ~50 s here). Each node keeps its log in the
cluster directory, so topics and committed offsets survive a restart of the cluster.

Sizing for a 2-core / 24 GB machine: 512 MB heap per node; the JVM starts in ~4 s per node. The
timeouts below are the broker defaults shortened so a failure shows within seconds
(``docs/operations.md``, "Apache Kafka").
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from infra.ports import ensure_free, free_port

log = structlog.get_logger(__name__)

HERE = Path(__file__).resolve().parent / "kafka"
POM = HERE / "pom.xml"
DIGESTS = HERE / "jars.sha256"
HEAP = "-Xms256m -Xmx512m"
STARTED = re.compile(rb"Kafka Server started")
JAVA_MAJOR = 17


class KafkaUnavailable(RuntimeError):
    """Java 17 or Maven is missing, or the jars could not be fetched and verified."""


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, "infra/kafka/pom.xml names no kafka.version"
    return match.group(1)


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def unavailable_reason(libs_dir: Path) -> str | None:
    """Why this machine cannot run the cluster, or None when it can."""
    java = java_binary()
    if java is None:
        return "no `java` on PATH (Apache Kafka needs Java 17 or newer)"
    major = java_major(java)
    if major is None or major < JAVA_MAJOR:
        return f"{java} is Java {major}; Apache Kafka {kafka_version()} needs Java 17 or newer"
    if not verified(libs_dir) and shutil.which("mvn") is None:
        return "no `mvn` on PATH (Maven fetches Apache Kafka's jars from Maven Central)"
    return None


def expected_digests() -> dict[str, str]:
    digests: dict[str, str] = {}
    for line in DIGESTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            digests[name] = digest
    return digests


def digests_of(directory: Path) -> dict[str, str]:
    return {
        jar.name: hashlib.sha256(jar.read_bytes()).hexdigest()
        for jar in sorted(directory.glob("*.jar"))
    }


def verified(libs_dir: Path) -> bool:
    return libs_dir.is_dir() and digests_of(libs_dir) == expected_digests()


def fetch_jars(libs_dir: Path) -> Path:
    """The broker's jars in ``libs_dir``, fetched with Maven unless already there and verified."""
    if verified(libs_dir):
        return libs_dir
    if shutil.which("mvn") is None:
        raise KafkaUnavailable("no `mvn` on PATH to fetch Apache Kafka's jars")
    staging = libs_dir.with_name(libs_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetching Apache Kafka jars with Maven", version=kafka_version(), into=str(libs_dir))
    done = subprocess.run(
        [
            "mvn",
            "--batch-mode",
            "--quiet",
            "--strict-checksums",  # Maven Central's own .sha1 for every file downloaded
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise KafkaUnavailable(
            f"mvn could not fetch Apache Kafka {kafka_version()}: "
            + (done.stdout + done.stderr).strip()[-2000:]
        )
    got, want = digests_of(staging), expected_digests()
    if got != want:
        wrong = sorted(name for name in set(got) | set(want) if got.get(name) != want.get(name))
        raise KafkaUnavailable(
            f"Apache Kafka jars do not match infra/kafka/jars.sha256: {', '.join(wrong)}"
        )
    shutil.rmtree(libs_dir, ignore_errors=True)
    staging.rename(libs_dir)
    return libs_dir


def cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding, never one that
    starts with "-". One in 64 does, and `kafka-storage format --cluster-id -x...` reads it
    as an option: the format failed and a CI run lost the whole cluster suite (stop 32).
    Kafka's own ``Uuid.randomUuid`` draws again for the same reason."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    libs_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def config_path(self) -> Path:
        return self.directory / "server.properties"

    def _java(self, main: str, *args: str, heap: str = HEAP) -> list[str]:
        java = java_binary()
        if java is None:
            raise KafkaUnavailable("no `java` on PATH")
        return [
            java,
            *heap.split(),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.directory.parent / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

    def format(self, cluster: str) -> None:
        done = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster,
                "--config",
                str(self.config_path),
                "--ignore-formatted",
                heap="-Xmx256m",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            # the tool's reason is on stderr; stdout holds only log4j's start-up lines
            raise KafkaUnavailable(
                f"formatting node {self.node_id} failed (exit {done.returncode}): "
                f"{done.stderr.strip()[-2000:]}\n{done.stdout.strip()[-2000:]}"
            )

    def start(self) -> int:
        """Start the JVM; return the log position from which to look for "started"."""
        ensure_free("127.0.0.1", self.port, "KRETSLOPP_BROKER_PORT")
        position = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config_path)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle
            )
        return position

    def wait_started(self, position: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise KafkaUnavailable(
                    f"Kafka node {self.node_id} exited with code {code} while starting; "
                    f"see {self.log_path}"
                )
            with self.log_path.open("rb") as f:
                f.seek(position)
                if STARTED.search(f.read()):
                    return
            time.sleep(0.1)
        raise KafkaUnavailable(f"Kafka node {self.node_id} did not start; see {self.log_path}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no controlled shutdown, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused JVM cannot shut down
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout_s: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("Kafka node did not stop in time; killed", node=self.node_id)
            self.kill()


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass
class KafkaCluster:
    """``size`` combined broker+controller nodes on loopback, kept in ``directory``."""

    directory: Path
    libs_dir: Path
    size: int = 3
    first_port: int = 0
    nodes: list[KafkaNode] = field(default_factory=list)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def replication_factor(self) -> int:
        return min(self.size, 3)

    @property
    def min_insync_replicas(self) -> int:
        """One replica may be down while producers with acks=all go on."""
        return max(1, self.replication_factor - 1)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def _layout(self) -> dict[str, object]:
        """Ports and cluster id: chosen once, kept so a restart finds its own cluster."""
        path = self.directory / "cluster.json"
        if path.exists():
            layout: dict[str, object] = json.loads(path.read_text())
            if layout.get("size") == self.size:
                return layout
            raise KafkaUnavailable(
                f"{self.directory} holds a {layout.get('size')}-node cluster, not {self.size}"
            )
        if self.first_port:
            ports = [self.first_port + i for i in range(self.size)]
            controllers = [self.first_port + 100 + i for i in range(self.size)]
        else:
            ports = [free_port() for _ in range(self.size)]
            controllers = [free_port() for _ in range(self.size)]
        layout = {"size": self.size, "cluster_id": cluster_id(), "ports": ports}
        layout["controller_ports"] = controllers
        self.directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(layout))
        return layout

    def cluster_properties(self) -> dict[str, str]:
        """The server properties every node shares; ``infra/deploy/compose.yaml`` sets the
        same values (``tests/infra/test_deploy.py``)."""
        rf, isr = self.replication_factor, self.min_insync_replicas
        return {
            "process.roles": "broker,controller",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "auto.create.topics.enable": "false",
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(isr),
            "offsets.topic.replication.factor": str(rf),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(isr),
            "group.initial.rebalance.delay.ms": "0",
            # a dead or frozen node is fenced, and drops out of the ISR, within seconds
            "broker.session.timeout.ms": "6000",
            "broker.heartbeat.interval.ms": "1000",
            "replica.lag.time.max.ms": "6000",
            "controlled.shutdown.enable": "true",
        }

    def _configure(self, node: KafkaNode, voters: str) -> None:
        properties = {
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "log.dirs": str(node.directory / "data"),
            **self.cluster_properties(),
            # small machine: fewer threads, fewer and smaller segments than the defaults
            "offsets.topic.num.partitions": "8",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.replica.fetchers": "1",
            "log.segment.bytes": "67108864",
        }
        node.directory.mkdir(parents=True, exist_ok=True)
        node.config_path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))

    def start(self, timeout_s: float = 120) -> None:
        layout = self._layout()
        ports = list(layout["ports"])  # type: ignore[call-overload]
        controllers = list(layout["controller_ports"])  # type: ignore[call-overload]
        self.nodes = [
            KafkaNode(
                i + 1, ports[i], controllers[i], self.directory / f"node-{i + 1}", self.libs_dir
            )
            for i in range(self.size)
        ]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        (self.directory / "log4j2.properties").write_text(LOG4J2)
        for node in self.nodes:
            self._configure(node, voters)
            if not (node.directory / "data" / "meta.properties").exists():
                node.format(str(layout["cluster_id"]))
        started = time.monotonic()
        positions = [node.start() for node in self.nodes]
        deadline = started + timeout_s
        try:
            for node, position in zip(self.nodes, positions, strict=True):
                node.wait_started(position, deadline)
        except BaseException:
            self.stop()
            raise
        log.info(
            "kafka cluster started",
            version=kafka_version(),
            nodes=self.size,
            bootstrap_servers=self.bootstrap_servers,
            seconds=round(time.monotonic() - started, 1),
        )

    def start_node(self, node: KafkaNode, timeout_s: float = 120) -> None:
        position = node.start()
        node.wait_started(position, time.monotonic() + timeout_s)

    def stop(self, timeout_s: float = 60) -> None:
        """Controlled shutdown of every node at once (one by one, the last would wait for a
        controller quorum that is gone)."""
        for node in self.nodes:
            node.terminate()
        for node in self.nodes:
            node.wait_stopped(timeout_s)
        log.info("kafka cluster stopped")

    def restart(self) -> None:
        self.stop()
        self.start()
