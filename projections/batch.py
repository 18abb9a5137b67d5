"""Turn a batch of raw Kafka records into decoded events and dead letters. Pure, no I/O.

Faust was seen delivering the same (partition, offset) twice inside one batch after a failover
(``docs/operations.md``), so records are deduplicated by their coordinates first, and by
``event_id`` second (the same event produced twice lands at two offsets).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from uuid import UUID

from events.codec import InvalidEvent, decode
from events.models import LifecycleEvent


class SourceRecord(NamedTuple):
    """One Kafka record as fetched. A NamedTuple, as :class:`DecodedEvent`: one of each is
    made per event, and a frozen dataclass's ``__init__`` (0.5 us) costs twice a tuple's."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class DecodedEvent(NamedTuple):
    record: SourceRecord
    event: LifecycleEvent


# Longest reason / field name kept; a dead letter must always be storable, whatever it quotes.
MAX_REASON_CHARS = 2000
MAX_FIELD_CHARS = 300


def storable_text(text: str, limit: int) -> str:
    """Text PostgreSQL and Kafka headers accept: no NUL, no lone surrogates, bounded length.

    The reason and field of a dead letter quote the producer's input (a field *name* with
    ``\\u0000`` in it), and PostgreSQL text cannot hold NUL: one such record used to fail the
    batch, and then the record-by-record retry, so the writer stopped (issue #11.2).
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    text = text.replace("\x00", "\\u0000")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord
    kind: str
    field: str | None
    reason: str
    # the valid event a `rejected_by_database` letter stands for: if the log already holds it
    # and the checkpoint passed the record, the record counted and the letter is not stored
    event_id: UUID | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", storable_text(self.reason, MAX_REASON_CHARS))
        if self.field is not None:
            object.__setattr__(self, "field", storable_text(self.field, MAX_FIELD_CHARS))


@dataclass(slots=True)
class Batch:
    """Decoded events and dead letters of one batch, each in (partition, offset) order, as
    :func:`prepare` makes them: the writer keeps the first copy of an event id by that order."""

    events: list[DecodedEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    redelivered: int = 0  # same (partition, offset) seen twice in this batch

    @property
    def partitions(self) -> list[int]:
        return sorted(
            {d.record.partition for d in self.events}
            | {d.record.partition for d in self.dead_letters}
        )

    def max_offsets(self) -> dict[int, int]:
        return max_offsets([d.record for d in self.events] + [d.record for d in self.dead_letters])


def max_offsets(records: Iterable[SourceRecord]) -> dict[int, int]:
    """The highest offset of each partition among ``records``."""
    out: dict[int, int] = {}
    for rec in records:
        if rec.offset > out.get(rec.partition, -1):
            out[rec.partition] = rec.offset
    return out


def prepare(records: list[SourceRecord]) -> Batch:
    batch = Batch()
    seen: set[tuple[int, int]] = set()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        coords = (record.partition, record.offset)
        if coords in seen:
            batch.redelivered += 1
            continue
        seen.add(coords)
        try:
            batch.events.append(DecodedEvent(record, decode(record.value)))
        except InvalidEvent as exc:
            batch.dead_letters.append(DeadLetter(record, exc.kind, exc.field, exc.message))
        except Exception as exc:  # never let one record stop the partition
            batch.dead_letters.append(DeadLetter(record, "unexpected", None, repr(exc)))
    return batch


def conflict(accepted: LifecycleEvent, repeat: LifecycleEvent) -> str | None:
    """Why ``repeat`` is not the event ``accepted`` although it has its ``event_id``, or None
    when it is the same fact again (a redelivery or a resend, counted as a duplicate).

    An event id names one fact. A copy with other facts is not silently dropped as a
    duplicate: it becomes a dead letter, and the first accepted copy stands. The reason names
    the differing field only within one tenant, so another tenant's event is never described.
    ``source`` and ``recorded_at`` may differ (a relay renames the source; kretslopp sets the
    other), and an instant is the same in any UTC offset.
    """
    if (accepted.tenant_id, accepted.asset_id) != (repeat.tenant_id, repeat.asset_id):
        return f"event_id {accepted.event_id} already names another event; choose a new id"
    for name in ("event_type", "occurred_at", "payload"):
        if getattr(accepted, name) != getattr(repeat, name):
            return (
                f"event_id {accepted.event_id} was already accepted with another {name}; an "
                "event id names one fact: send the correction with a new id"
            )
    return None
