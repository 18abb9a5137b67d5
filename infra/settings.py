"""Configuration from environment variables, with defaults that run on a laptop.

Each setting is declared once, below: its type, default, environment variable and meaning.
``from_env``, ``child_env`` and the README's "Configuration" table (checked by
``tests/infra/test_settings.py``) all derive from these declarations. When
``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` is set, the embedded stack starts nothing for
that part and uses it instead. A malformed value raises :class:`ConfigurationError` naming the
variable; the command line turns it into one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def _setting(default: Any, env: str, meaning: str, *, shown_default: str | None = None) -> Any:
    metadata = {"env": env, "meaning": meaning, "shown_default": shown_default}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap_servers: str | None = _setting(
        None,
        "KAFKA_BOOTSTRAP_SERVERS",
        "comma-separated `host:port` of any Kafka-compatible broker",
        shown_default="unset: `up` starts Tansu",
    )
    broker: str | None = _setting(
        None,
        "KRETSLOPP_BROKER",
        "the broker: `tansu` (embedded, Python only, no replication) or `kafka` (Apache Kafka: "
        "idempotent producers, replicated topics; `up` and the tests start a local KRaft cluster "
        "when `KAFKA_BOOTSTRAP_SERVERS` is unset)",
        shown_default="`kafka` when `KAFKA_BOOTSTRAP_SERVERS` is set, else `tansu`",
    )
    kafka_nodes: int = _setting(
        3, "KRETSLOPP_KAFKA_NODES", "nodes of the local Apache Kafka cluster (1 or 3)"
    )
    replication_factor: int | None = _setting(
        None,
        "KRETSLOPP_REPLICATION_FACTOR",
        "replicas of the topics kretslopp creates; `min.insync.replicas` is one less (at least 1)",
        shown_default="3 on Apache Kafka (1 on a 1-node cluster), 1 on Tansu",
    )
    database_url: str | None = _setting(
        None, "DATABASE_URL", "PostgreSQL >= 14 DSN", shown_default="unset: `up` starts pgserver"
    )
    topic: str = _setting("asset-lifecycle", "KRETSLOPP_TOPIC", "lifecycle topic")
    dead_letter_topic: str = _setting(
        "asset-lifecycle-dlq", "KRETSLOPP_DLQ_TOPIC", "dead-letter topic"
    )
    partitions: int = _setting(
        8, "KRETSLOPP_PARTITIONS", "partitions when kretslopp creates the topic"
    )
    consumer_group: str = _setting(
        "kretslopp-projector",
        "KRETSLOPP_CONSUMER_GROUP",
        "consumer group, also the Faust app id",
    )
    batch_size: int = _setting(2000, "KRETSLOPP_BATCH_SIZE", "max records per batch/transaction")
    worker_processes: int = _setting(
        1,
        "KRETSLOPP_WORKER_PROCESSES",
        "worker processes `kretslopp worker` runs in one consumer group, sharing the "
        "partitions; on a 2-core machine 2 applied +30 % more events/s than 1 "
        '(docs/operations.md, "Scaling on one machine")',
    )
    writer_lanes: int = _setting(
        3,
        "KRETSLOPP_WRITER_LANES",
        "lanes in which a worker writes its batches side by side, each lane its own "
        "partitions and connection; on a 2-core machine 3 lanes wrote +6 % more than 2 "
        '(docs/operations.md, "Scaling on one machine")',
    )
    writer_lane_depth: int = _setting(
        8,
        "KRETSLOPP_WRITER_LANE_DEPTH",
        "batches a lane may hold waiting while it writes one; aiokafka hands fetched records "
        "over a partition at a time, so with 1 a run of one lane's partitions left the other "
        'lane idle (8: +10 % events/s, docs/operations.md, "Scaling on one machine")',
    )
    batch_within_s: float = _setting(
        0.25, "KRETSLOPP_BATCH_WITHIN_S", "max seconds to wait filling a batch"
    )
    data_dir: Path = _setting(  # noqa: RUF009 - _setting returns a dataclasses.field
        lambda: Path(".kretslopp"),
        "KRETSLOPP_DATA_DIR",
        "embedded PostgreSQL data, logs, Faust data",
        shown_default="`.kretslopp`",
    )
    broker_port: int = _setting(
        19092, "KRETSLOPP_BROKER_PORT", "embedded broker port (`0`: any free port)"
    )
    api_host: str = _setting("127.0.0.1", "KRETSLOPP_API_HOST", "where the API listens (host)")
    api_port: int = _setting(8000, "KRETSLOPP_API_PORT", "where the API listens (port)")
    api_workers: int = _setting(
        1,
        "KRETSLOPP_API_WORKERS",
        "API server processes on one port, each with its own Kafka producer and database "
        "pool; on a 2-core machine 2 took the gateway from 10.8k to 21.2k events/s accepted "
        '(docs/operations.md, "Scaling on one machine")',
    )
    factor_source: str = _setting(
        "boavizta-pcf-median",
        "KRETSLOPP_FACTOR_SOURCE",
        "embodied-carbon factor table (`boavizta-pcf-median` or `ademe-negaoctet`); a change "
        "recomputes all KPIs at worker start",
    )
    metrics_port: int | None = _setting(
        None,
        "KRETSLOPP_METRICS_PORT",
        "Prometheus metrics port of a worker; for the API, moves `/metrics` off its own port",
        shown_default="unset: workers serve none, the API serves `/metrics`",
    )
    metrics_host: str = _setting(
        "127.0.0.1", "KRETSLOPP_METRICS_HOST", "where `KRETSLOPP_METRICS_PORT` listens (host)"
    )
    log_level: str = _setting(
        "info", "KRETSLOPP_LOG_LEVEL", "log level; logs are JSON lines (structlog) on stderr"
    )

    @classmethod
    def from_env(cls) -> Settings:
        values: dict[str, Any] = {}
        for f in declared():
            raw = os.environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.broker not in (None, *BROKERS):
            raise ConfigurationError(
                f"KRETSLOPP_BROKER must be one of {', '.join(BROKERS)}, got {self.broker!r}"
            )
        if self.kafka_nodes not in (1, 3):
            raise ConfigurationError(
                f"KRETSLOPP_KAFKA_NODES must be 1 or 3, got {self.kafka_nodes}"
            )
        if not 1 <= self.api_workers <= 64:
            raise ConfigurationError(
                f"KRETSLOPP_API_WORKERS must be between 1 and 64, got {self.api_workers}"
            )
        if not 1 <= self.worker_processes <= 64:
            raise ConfigurationError(
                f"KRETSLOPP_WORKER_PROCESSES must be between 1 and 64, got {self.worker_processes}"
            )
        if not 1 <= self.writer_lanes <= 16:
            raise ConfigurationError(
                f"KRETSLOPP_WRITER_LANES must be between 1 and 16, got {self.writer_lanes}"
            )
        if not 1 <= self.writer_lane_depth <= 64:
            raise ConfigurationError(
                "KRETSLOPP_WRITER_LANE_DEPTH must be between 1 and 64, "
                f"got {self.writer_lane_depth}"
            )
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ConfigurationError(
                f"KRETSLOPP_REPLICATION_FACTOR must be at least 1, got {self.replication_factor}"
            )

    @property
    def broker_kind(self) -> str:
        """``tansu`` or ``kafka``: set, or ``kafka`` for a configured cluster."""
        if self.broker:
            return self.broker
        return "kafka" if self.kafka_bootstrap_servers else "tansu"

    @property
    def idempotent_producer(self) -> bool:
        """Apache Kafka deduplicates a producer's retries; Tansu cannot (no InitProducerId)."""
        return self.broker_kind == "kafka"

    @property
    def topic_replication(self) -> int:
        if self.replication_factor is not None:
            return self.replication_factor
        if self.broker_kind == "tansu":
            return 1
        return 1 if (not self.kafka_bootstrap_servers and self.kafka_nodes == 1) else 3

    def with_endpoints(self, kafka: str, database: str, replication: int) -> Settings:
        """The settings children see once ``up`` started (or found) the stack: the broker's
        kind and its topics' replication are then facts, not guesses from whether an endpoint
        was configured."""
        return replace(
            self,
            kafka_bootstrap_servers=kafka,
            database_url=database,
            broker=self.broker_kind,
            replication_factor=self.replication_factor or replication,
        )

    def require_endpoints(self) -> tuple[str, str]:
        if not self.kafka_bootstrap_servers or not self.database_url:
            raise ConfigurationError(
                "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set "
                "(or use `kretslopp up`, which starts an embedded stack and sets both)"
            )
        return self.kafka_bootstrap_servers, self.database_url

    def child_env(self) -> dict[str, str]:
        """Environment for a child process (worker, API) that must see the same settings."""
        env = dict(os.environ)
        for f in declared():
            value = getattr(self, f.name)
            if value is None:
                env.pop(f.metadata["env"], None)
            else:
                env[f.metadata["env"]] = str(value)
        return env


BROKERS = ("tansu", "kafka")


def declared() -> Iterator[Field[Any]]:
    """Every setting with its environment variable and meaning, in declaration order."""
    yield from fields(Settings)


def _parse(f: Field[Any], raw: str) -> Any:
    kind = str(f.type).removesuffix(" | None")
    name = f.metadata["env"]
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if kind == "Path":
        return Path(raw)
    return raw
