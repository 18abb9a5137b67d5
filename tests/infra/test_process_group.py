"""``infra.process_group`` with plain Python children: how a unit of processes ends."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from infra.process_group import exit_code, run_group

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
# a child that must be told twice: it ignores SIGTERM
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
]


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def signal_self_after(seconds: float, signum: int) -> None:
    threading.Timer(seconds, os.kill, (os.getpid(), signum)).start()


def test_exit_code_reads_a_signal_as_a_shell_does() -> None:
    assert (exit_code(0), exit_code(70), exit_code(-9), exit_code(-15)) == (0, 70, 137, 143)


def test_a_child_that_ends_on_its_own_ends_the_group_with_its_code() -> None:
    started = time.monotonic()
    code = run_group(
        [
            sys.executable,
            "-c",
            "import os, sys, time; time.sleep(float(os.environ['T'])); "
            "sys.exit(int(os.environ['CODE']))",
        ],
        [env_with(T="0.2", CODE="70"), env_with(T="60", CODE="0")],
    )
    assert code == 70
    assert time.monotonic() - started < 10, "the other child was not stopped"


def test_a_child_that_ends_cleanly_on_its_own_still_ends_the_group_as_a_failure() -> None:
    code = run_group([sys.executable, "-c", "pass"], [env_with()])
    assert code == 1


def test_sigterm_to_the_group_stops_every_child_and_ends_with_their_code() -> None:
    signal_self_after(0.5, signal.SIGTERM)
    previous = signal.getsignal(signal.SIGTERM)
    code = run_group(SLEEP, [env_with(), env_with()])
    assert code == 128 + signal.SIGTERM  # the sleepers die of it; a worker exits 0
    assert signal.getsignal(signal.SIGTERM) == previous, "the group's handler was left behind"


def test_a_child_that_ignores_sigterm_is_killed_after_the_deadline() -> None:
    signal_self_after(0.5, signal.SIGTERM)
    started = time.monotonic()
    code = run_group(STUBBORN, [env_with()], stop_timeout_s=1.0)
    assert code == 128 + signal.SIGKILL
    assert time.monotonic() - started < 10
