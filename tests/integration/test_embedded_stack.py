"""The embedded stack starts, answers, and leaves nothing running; stacks can run side by side."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import psutil

from infra.embedded import embedded_stack
from infra.settings import Settings


def _pids_with(text: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(attrs=["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline:
            found.append(proc.pid)
    return found


async def _version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def test_two_stacks_side_by_side_then_nothing_left(tmp_path: Path) -> None:
    a = Settings(data_dir=tmp_path / "a", broker_port=0)
    b = Settings(data_dir=tmp_path / "b", broker_port=0)
    with embedded_stack(a) as ea, embedded_stack(b) as eb:
        assert ea.kafka_bootstrap_servers != eb.kafka_bootstrap_servers
        for endpoints in (ea, eb):
            host, port = endpoints.kafka_bootstrap_servers.split(":")
            with socket.create_connection((host, int(port)), timeout=2):
                pass
            assert asyncio.run(_version(endpoints.database_url)).startswith("16")
        assert _pids_with(str(tmp_path / "a"))
    assert _pids_with(str(tmp_path)) == []
    assert (
        _pids_with(
            "tansu broker --listener-url tcp://127.0.0.1:"
            + ea.kafka_bootstrap_servers.split(":")[1]
        )
        == []
    )


def test_configured_endpoints_start_nothing(tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap_servers="kafka.example:9092",
        database_url="postgresql://u@db.example/x",
        data_dir=tmp_path,
    )
    with embedded_stack(settings) as endpoints:
        assert endpoints.kafka_bootstrap_servers == "kafka.example:9092"
        assert endpoints.database_url == "postgresql://u@db.example/x"
    assert list(tmp_path.iterdir()) == []
