"""What a worker is doing, on demand: every thread's stack and every asyncio task's, as text.

A worker that stops moving without an error (seen once in the fault suite after a whole
Kafka cluster restart) leaves nothing in its log to say where it waits. ``kill -USR1 <pid>``
writes this dump to its stderr and the worker goes on (``docs/operations.md``). mode's own
SIGUSR1 handler prints each frame's local variables as well: records, serial numbers and
org units of the batch in hand, which do not belong in an operator's log. This prints code
locations only.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import traceback


def stacks(loops: dict[int, asyncio.AbstractEventLoop] | None = None) -> str:
    """Each thread's stack, then the tasks of each event loop in ``loops`` (thread ident ->
    its loop): where each task waits, not what it holds."""
    out = io.StringIO()
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"THREAD {names.get(ident, ident)}\n")
        out.write("".join(traceback.format_stack(frame)))
        loop = (loops or {}).get(ident)
        if loop is not None:
            out.write("TASKS\n")
            for task in asyncio.all_tasks(loop):
                out.write(f"  {task.get_name()}: {task.get_coro()!r}\n")
                for line in _task_stack(task):
                    out.write(f"    {line}\n")
    return out.getvalue()


def _task_stack(task: asyncio.Task[object]) -> list[str]:
    return [
        f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
        for f in task.get_stack(limit=8)
    ]
