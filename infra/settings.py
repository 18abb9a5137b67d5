"""Configuration from environment variables, with defaults that run on a laptop.

Every variable is documented in README.md ("Configuration"). When ``KAFKA_BOOTSTRAP_SERVERS`` or
``DATABASE_URL`` is set, the embedded stack starts nothing for that part and uses it instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from projections.carbon import FACTOR_TABLES, FactorTable


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap_servers: str | None = None
    database_url: str | None = None
    topic: str = "asset-lifecycle"
    dead_letter_topic: str = "asset-lifecycle-dlq"
    partitions: int = 8
    consumer_group: str = "kretslopp-projector"
    data_dir: Path = field(default_factory=lambda: Path(".kretslopp"))
    broker_port: int = 19092
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    batch_size: int = 2000
    batch_within_s: float = 0.25
    log_level: str = "info"
    factor_source: str = "boavizta-pcf-median"

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()  # defaults (a slots dataclass has no class-level default attributes)
        return cls(
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            database_url=os.environ.get("DATABASE_URL") or None,
            topic=os.environ.get("KRETSLOPP_TOPIC", d.topic),
            dead_letter_topic=os.environ.get("KRETSLOPP_DLQ_TOPIC", d.dead_letter_topic),
            partitions=_int("KRETSLOPP_PARTITIONS", d.partitions),
            consumer_group=os.environ.get("KRETSLOPP_CONSUMER_GROUP", d.consumer_group),
            data_dir=Path(os.environ.get("KRETSLOPP_DATA_DIR", ".kretslopp")),
            broker_port=_int("KRETSLOPP_BROKER_PORT", d.broker_port),
            api_host=os.environ.get("KRETSLOPP_API_HOST", d.api_host),
            api_port=_int("KRETSLOPP_API_PORT", d.api_port),
            batch_size=_int("KRETSLOPP_BATCH_SIZE", d.batch_size),
            batch_within_s=_float("KRETSLOPP_BATCH_WITHIN_S", d.batch_within_s),
            log_level=os.environ.get("KRETSLOPP_LOG_LEVEL", d.log_level),
            factor_source=os.environ.get("KRETSLOPP_FACTOR_SOURCE", d.factor_source),
        )

    def factor_table(self) -> FactorTable:
        table = FACTOR_TABLES.get(self.factor_source)
        if table is None:
            raise SystemExit(
                f"KRETSLOPP_FACTOR_SOURCE={self.factor_source!r} is unknown; "
                f"choose one of {', '.join(sorted(FACTOR_TABLES))}"
            )
        return table

    def with_endpoints(self, kafka: str, database: str) -> Settings:
        return replace(self, kafka_bootstrap_servers=kafka, database_url=database)

    def require_endpoints(self) -> tuple[str, str]:
        if not self.kafka_bootstrap_servers or not self.database_url:
            raise SystemExit(
                "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set "
                "(or use `kretslopp up`, which starts an embedded stack and sets both)"
            )
        return self.kafka_bootstrap_servers, self.database_url

    def child_env(self) -> dict[str, str]:
        """Environment for a child process (worker, API) that must see the same settings."""
        env = dict(os.environ)
        env.update(
            {
                "KRETSLOPP_TOPIC": self.topic,
                "KRETSLOPP_DLQ_TOPIC": self.dead_letter_topic,
                "KRETSLOPP_PARTITIONS": str(self.partitions),
                "KRETSLOPP_CONSUMER_GROUP": self.consumer_group,
                "KRETSLOPP_DATA_DIR": str(self.data_dir),
                "KRETSLOPP_BATCH_SIZE": str(self.batch_size),
                "KRETSLOPP_BATCH_WITHIN_S": str(self.batch_within_s),
                "KRETSLOPP_LOG_LEVEL": self.log_level,
                "KRETSLOPP_API_HOST": self.api_host,
                "KRETSLOPP_API_PORT": str(self.api_port),
                "KRETSLOPP_FACTOR_SOURCE": self.factor_source,
            }
        )
        if self.kafka_bootstrap_servers:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap_servers
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env
