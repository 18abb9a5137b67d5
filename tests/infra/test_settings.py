"""Settings are declared once: the environment, child processes and the README derive from the
declarations in infra/settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import ConfigurationError, Settings, declared

README = Path(__file__).resolve().parents[2] / "README.md"


def configuration_table() -> str:
    """The README's table, as the declarations say it must read."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    defaults = Settings()
    for f in declared():
        shown = f.metadata["shown_default"] or f"`{getattr(defaults, f.name)}`"
        rows.append(f"| `{f.metadata['env']}` | {shown} | {f.metadata['meaning']} |")
    return "\n".join(rows)


def test_the_readme_table_matches_the_declarations() -> None:
    assert configuration_table() in README.read_text(), (
        "README 'Configuration' is out of date; it must contain:\n" + configuration_table()
    )


def test_from_env_reads_every_declared_variable_and_child_env_writes_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        "KRETSLOPP_BROKER": "tansu",
        "KRETSLOPP_KAFKA_NODES": "1",
        "KRETSLOPP_REPLICATION_FACTOR": "2",
        "DATABASE_URL": "postgresql://x/y",
        "KRETSLOPP_TOPIC": "t",
        "KRETSLOPP_DLQ_TOPIC": "d",
        "KRETSLOPP_PARTITIONS": "3",
        "KRETSLOPP_CONSUMER_GROUP": "g",
        "KRETSLOPP_BATCH_SIZE": "10",
        "KRETSLOPP_WORKER_PROCESSES": "3",
        "KRETSLOPP_WRITER_LANES": "4",
        "KRETSLOPP_WRITER_LANE_DEPTH": "2",
        "KRETSLOPP_BATCH_WITHIN_S": "0.5",
        "KRETSLOPP_DATA_DIR": "/tmp/k",
        "KRETSLOPP_BROKER_PORT": "0",
        "KRETSLOPP_API_HOST": "0.0.0.0",
        "KRETSLOPP_API_PORT": "9000",
        "KRETSLOPP_API_WORKERS": "2",
        "KRETSLOPP_FACTOR_SOURCE": "ademe-negaoctet",
        "KRETSLOPP_METRICS_PORT": "9100",
        "KRETSLOPP_METRICS_HOST": "0.0.0.0",
        "KRETSLOPP_LOG_LEVEL": "debug",
    }
    assert set(values) == {f.metadata["env"] for f in declared()}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (
        settings.partitions,
        settings.batch_within_s,
        settings.data_dir,
        settings.writer_lanes,
        settings.writer_lane_depth,
        settings.worker_processes,
    ) == (3, 0.5, Path("/tmp/k"), 4, 2, 3)
    child = settings.child_env()
    assert {k: child[k] for k in values} == values
    for name in values:
        monkeypatch.delenv(name)
    assert Settings.from_env() == Settings()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("KRETSLOPP_PARTITIONS", "eight", "KRETSLOPP_PARTITIONS must be a whole number"),
        ("KRETSLOPP_BATCH_WITHIN_S", "soon", "KRETSLOPP_BATCH_WITHIN_S must be a number"),
        ("KRETSLOPP_WRITER_LANES", "0", "KRETSLOPP_WRITER_LANES must be between 1 and 16"),
        ("KRETSLOPP_WRITER_LANES", "17", "KRETSLOPP_WRITER_LANES must be between 1 and 16"),
        ("KRETSLOPP_WRITER_LANE_DEPTH", "0", "KRETSLOPP_WRITER_LANE_DEPTH must be between 1 and"),
        ("KRETSLOPP_WRITER_LANE_DEPTH", "65", "KRETSLOPP_WRITER_LANE_DEPTH must be between 1"),
        ("KRETSLOPP_WORKER_PROCESSES", "0", "KRETSLOPP_WORKER_PROCESSES must be between 1 and"),
        ("KRETSLOPP_WORKER_PROCESSES", "65", "KRETSLOPP_WORKER_PROCESSES must be between 1"),
    ],
)
def test_a_malformed_value_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=words):
        Settings.from_env()


def test_the_broker_decides_idempotence_and_replication() -> None:
    laptop = Settings()
    assert (laptop.broker_kind, laptop.idempotent_producer, laptop.topic_replication) == (
        "tansu",
        False,
        1,
    )
    configured = Settings(kafka_bootstrap_servers="k1:9092,k2:9092")
    assert (configured.broker_kind, configured.idempotent_producer) == ("kafka", True)
    assert configured.topic_replication == 3
    assert Settings(broker="kafka").topic_replication == 3
    assert Settings(broker="kafka", kafka_nodes=1).topic_replication == 1
    assert Settings(broker="kafka", replication_factor=2).topic_replication == 2
    # what `up` hands its children once it started the broker: facts, not guesses
    child = Settings(broker="tansu").with_endpoints("127.0.0.1:1", "postgresql://x/y", 1)
    assert (child.broker_kind, child.idempotent_producer, child.topic_replication) == (
        "tansu",
        False,
        1,
    )
    one_node = Settings(broker="kafka", kafka_nodes=1).with_endpoints("h:1", "postgresql://x", 1)
    assert (one_node.idempotent_producer, one_node.topic_replication) == (True, 1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KRETSLOPP_BROKER", "redpanda"),
        ("KRETSLOPP_KAFKA_NODES", "2"),
        ("KRETSLOPP_REPLICATION_FACTOR", "0"),
        ("KRETSLOPP_REPLICATION_FACTOR", "three"),
    ],
)
def test_a_bad_broker_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env()
