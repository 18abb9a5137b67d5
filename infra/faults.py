"""Fault injection for the reliability tests: ``KRETSLOPP_FAULT=<point>:<n>`` makes the
process SIGKILL itself the n-th time it reaches ``<point>``. Unset (always in production),
``reached`` is a dictionary lookup and nothing else.

``KRETSLOPP_FAULT=<point>:<n>:raise`` raises :class:`InjectedFault` there instead: an
unexpected error the code around it must survive without losing or skipping a record.

``KRETSLOPP_FAULT=<point>:<n>:hang`` starts a thread there that never ends, as a client
library's thread stuck in a rebalance: the process must still exit when told to.
``KRETSLOPP_FAULT=<point>:<n>:wedge`` blocks the calling thread there for good, as a shutdown
that waits on something that never answers.

Points: ``before_commit`` (inside the batch transaction, all rows written, not committed),
``after_commit`` (committed to PostgreSQL, offsets not yet acknowledged to Kafka),
``writer`` (the batch writer), ``worker_started`` (the worker, before Faust starts),
``worker_stopping`` (the worker, on SIGTERM/SIGINT, in the event loop).
"""

from __future__ import annotations

import os
import signal
import threading

_spec = os.environ.get("KRETSLOPP_FAULT", "")
_point, _, _rest = _spec.partition(":")
_count, _, _action = _rest.partition(":")
_remaining = {_point: int(_count or 1)} if _point else {}


class InjectedFault(RuntimeError):
    """Raised at a fault point by ``KRETSLOPP_FAULT=<point>:<n>:raise``."""


def reached(point: str) -> None:
    if point not in _remaining:
        return
    _remaining[point] -= 1
    if _remaining[point] == 0:
        if _action == "raise":
            raise InjectedFault(f"injected fault at {point}")
        if _action == "wedge":
            threading.Event().wait()
        if _action == "hang":
            threading.Thread(target=threading.Event().wait, name="stuck", daemon=False).start()
            return
        os.kill(os.getpid(), signal.SIGKILL)
