"""The one way kretslopp starts its own commands as child processes (``up``'s worker and API,
``replay``'s worker): the same settings in the environment, output to a log file, stopped with
SIGTERM and a deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout_s: float = 20) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def spawn(command: str, settings: Settings, log_name: str | None = None) -> Child:
    """``kretslopp COMMAND`` with ``settings``; its output goes to the data dir's logs."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{log_name or command}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", command],
            env=settings.child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the parent stops it itself (Ctrl-C reaches the parent)
        )
    return Child(command, process, log_path)
