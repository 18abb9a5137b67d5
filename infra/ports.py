"""Loopback ports: pick a free one, fail clearly on a busy one, wait for a server to listen."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from typing import Any

from infra.settings import ConfigurationError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ensure_free(host: str, port: int, variable: str) -> None:
    """Fail clearly when another process (another stack?) already listens there."""
    with socket.socket() as s:
        # like the servers themselves: connections in TIME_WAIT do not make a port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise ConfigurationError(
                f"port {port} on {host} is in use (another kretslopp stack?); "
                f"set {variable} to a free port"
            ) from None


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with code {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {host}:{port} within {timeout_s} s")
