"""The deployment files say what the tested local cluster does: the same Kafka version, the same
replication and timeouts, settings kretslopp declares. No Docker engine runs here, so the
Compose file is checked as data; its settings are the official images' documented ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.kafka_cluster import KafkaCluster, kafka_version
from infra.settings import declared

DEPLOY = Path(__file__).resolve().parents[2] / "infra" / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_kafka_nodes_run_the_tested_version_with_the_tested_settings() -> None:
    services = compose()["services"]
    local = KafkaCluster(Path("unused"), Path("unused"), size=3).cluster_properties()
    nodes = [services[f"kafka-{i}"] for i in (1, 2, 3)]
    for i, node in enumerate(nodes, start=1):
        assert node["image"] == f"apache/kafka:{kafka_version()}"
        env = node["environment"]
        as_properties = {
            k.removeprefix("KAFKA_").lower().replace("_", "."): str(v)
            for k, v in env.items()
            if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"
        }
        for key, value in local.items():
            assert as_properties.get(key) == value, f"kafka-{i}: {key}"
        assert env["KAFKA_NODE_ID"] == str(i)
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@kafka-") == 3
        assert len(env["CLUSTER_ID"]) == 22


def test_kretslopp_services_use_declared_settings_and_two_workers() -> None:
    services = compose()["services"]
    known = {f.metadata["env"] for f in declared()}
    for name in ("migrate", "worker", "api"):
        env = services[name]["environment"]
        assert set(env) <= known, f"{name}: {set(env) - known} are not kretslopp settings"
        assert env["KRETSLOPP_BROKER"] == "kafka"
        assert env["KRETSLOPP_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_BOOTSTRAP_SERVERS"].count("kafka-") == 3
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["kretslopp", "worker"]


def test_prometheus_scrapes_the_ports_the_services_serve_metrics_on() -> None:
    services = compose()["services"]
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["kretslopp-api"]["static_configs"][0]["targets"] == [
        f"api:{services['api']['environment']['KRETSLOPP_API_PORT']}"
    ]
    worker_env = services["worker"]["environment"]
    assert jobs["kretslopp-worker"]["dns_sd_configs"][0]["port"] == int(
        worker_env["KRETSLOPP_METRICS_PORT"]
    )
    assert worker_env["KRETSLOPP_METRICS_HOST"] == "0.0.0.0"
