"""N copies of one command as child processes that live and end together
(``kretslopp worker --processes N``).

A worker is one Python process, and Python runs one thread at a time: on the 2-core machine one
worker process used ~0.86 of a core and left the rest idle; two processes in the same consumer
group applied 27-29k events/s where one applied 21.5k (docs/operations.md, "Scaling on one
machine"). Running them under one command keeps the deployment one unit:

- SIGTERM or SIGINT to the group is passed to every child once, and the group exits when they
  have (a child's own graceful stop, as for a single worker).
- If one child ends on its own, for whatever reason, the others are stopped and the group
  exits with that child's code, so the supervisor above (systemd, Kubernetes, Compose)
  restarts the whole unit. Nothing is lost by that: every batch is committed in PostgreSQL with
  its checkpoint or not at all.
- If the group's process itself is killed (SIGKILL, an OOM kill), its children are told by the
  kernel (``PR_SET_PDEATHSIG`` on Linux, set by each child through :func:`end_with_parent`)
  and stop too: no orphaned worker keeps consuming beside a restarted group.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

PARENT_ENV = "KRETSLOPP_PROCESS_GROUP_PARENT"
"""Set by the group in each child's environment: the pid of the group's process."""

_PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """In a child of a group: ask the kernel for SIGTERM when the group's process dies, and
    stop at once if it already has. Does nothing outside a group or off Linux."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not fatal: the group still stops its children on SIGTERM and on their exit
    if os.getppid() != int(parent):  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: 128 + n for a child killed by signal n."""
    return 128 - returncode if returncode < 0 else returncode


def run_group(
    argv: Sequence[str], envs: Sequence[Mapping[str, str]], stop_timeout_s: float = 30
) -> int:
    """Run ``argv`` once per environment in ``envs``; return the exit code of the group:
    0 if it was told to stop and every child stopped cleanly, else the code of the first
    child that ended (or failed to stop)."""
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop_all(signum: int = signal.SIGTERM) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            stop_all(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for env in envs:
            if stopping:
                break
            children.append(
                subprocess.Popen(
                    list(argv),
                    env={**env, PARENT_ENV: str(os.getpid())},
                    # the group passes signals on itself: a Ctrl-C in a terminal reaches the
                    # group once, not each child beside it
                    start_new_session=True,
                )
            )
        first_code: int | None = None  # of a child that ended without being told to
        stop_by: float | None = None
        while True:
            ended = [c for c in children if c.poll() is not None]
            if ended and not stopping:
                # one child ended on its own: the unit is broken, stop the others
                first_code = exit_code(ended[0].returncode) or 1
                stopping = True
                stop_all()
            if len(ended) == len(children):
                break
            if stopping and stop_by is None:
                stop_by = time.monotonic() + stop_timeout_s
            if stop_by is not None and time.monotonic() > stop_by:
                for child in children:
                    if child.poll() is None:
                        child.kill()
            time.sleep(0.1)
        if first_code is not None:
            return first_code
        return next((exit_code(c.returncode) for c in children if c.returncode != 0), 0)
    finally:
        for child in children:  # only if the loop above did not run to its end
            if child.poll() is None:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
