"""Instants as the event log keeps them. No I/O.

The log keeps ``occurred_at`` as a timestamptz: an instant, read back in UTC. The live worker
folds events as producers sent them, with their own offsets. Whatever the fold keeps as text
(an anomaly's instant, an offer's) is therefore written in UTC, so the row the worker writes
and the row a rebuild writes are the same (``+02:00`` and ``+00:00`` of one instant were not).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC (``...+00:00``) of an aware datetime."""
    return moment.astimezone(UTC).isoformat()
