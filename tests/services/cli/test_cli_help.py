"""Every command documents itself, and the schema command prints the contract."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from events.models import EVENT_TYPES
from services.cli import build_parser

COMMANDS = [
    "up",
    "worker",
    "api",
    "produce",
    "status",
    "schema",
    "migrate",
    "tenant-settings",
    "keys",
    "import",
    "report",
    "rebuild",
    "dlq",
    "replay",
    "adapters",
    "offers",
]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_every_sub_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = _cli(command, "--help")
    assert result.returncode == 0
    assert f"usage: kretslopp {command}" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_schema_prints_json_schema_with_all_event_types() -> None:
    result = _cli("schema")
    assert result.returncode == 0
    schema = orjson.loads(result.stdout)
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)


def test_worker_without_endpoints_says_what_to_set() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "worker"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set" in result.stderr


def test_bad_number_in_environment_is_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "KRETSLOPP_PARTITIONS": "eight"},
    )
    assert result.returncode != 0
    assert "KRETSLOPP_PARTITIONS must be a whole number" in result.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"KRETSLOPP_API_WORKERS": "2", "KRETSLOPP_METRICS_PORT": "9109"},
            "KRETSLOPP_METRICS_PORT cannot be set with KRETSLOPP_API_WORKERS > 1",
        ),
        ({"KRETSLOPP_API_WORKERS": "0"}, "KRETSLOPP_API_WORKERS must be between 1 and 64"),
    ],
)
def test_api_server_processes_that_cannot_work_are_refused_clearly(
    env: dict[str, str], says: str
) -> None:
    import os

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "api"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": "postgresql://nowhere/x", **env},
    )
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_rebuild_refuses_a_part_count_it_cannot_use() -> None:
    done = _cli("rebuild", "--parts", "0")
    assert done.returncode == 2
    assert "--parts must be between 1 and 64" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["0", "65", "two", "-1"])
def test_worker_processes_out_of_range_is_refused_naming_the_option(value: str) -> None:
    result = _cli("worker", "--processes", value)
    assert result.returncode == 2
    assert f"argument --processes: must be a whole number from 1 to 64, got '{value}'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
