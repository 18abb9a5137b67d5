"""The writer's memory of the asset states it wrote, and of their KPI facts. Pure, no I/O.

Every batch replaces the KPI contributions of the assets it touches: old facts out, new facts
in. Without a memory, each touched asset costs a full ``asset_state`` row read and decoded
(``state_rows.from_row``) and its old facts computed again, although this worker computed both
when it wrote that row (profiled: about a third of the writer's CPU per event).

An entry is only used when it is provably the stored state: the row's version (PostgreSQL's
``xmin``, the transaction that wrote the row version, read under the batch's row lock) and its
event count and last event id must all equal what was remembered. A row written by another
worker, a rebuild or an upgrade has another ``xmin``; a remembered state whose transaction
rolled back was never stored under that ``xmin``. So a stale entry can only miss, never
answer. Facts are reused only on the same basis: the tenant's settings timeline version and
the factor table they were computed with.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from projections.asset_state import AssetState
from projections.kpi_facts import Facts

AssetKey = tuple[str, str]
FactsBasis = tuple[int, str, str]  # settings timeline version, factor source, factor version

# Entries kept. An asset's events are usually close together on the topic (one device's
# history arrives within weeks), so the working set is the assets of the last few batches;
# 20,000 states with their facts were ~60 MB of the worker's resident memory in the bench.
DEFAULT_CAPACITY = 20_000


class RowVersion(NamedTuple):
    """What identifies a stored ``asset_state`` row version (a NamedTuple: two are made and
    compared per asset and batch, and a tuple does both in C)."""

    xmin: int
    event_count: int
    last_event_id: str


@dataclass(slots=True)
class Remembered:
    version: RowVersion
    state: AssetState
    facts: Facts | None = None
    basis: FactsBasis | None = None


class StateCache:
    """A bounded least-recently-used map from asset to its remembered stored state."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._entries: OrderedDict[AssetKey, Remembered] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def state(self, key: AssetKey, stored: RowVersion) -> Remembered | None:
        """The remembered entry if it is the stored row version, else None (and forgotten)."""
        entry = self._entries.get(key)
        if entry is None or entry.version != stored:
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def facts(self, key: AssetKey, state: AssetState, basis: FactsBasis) -> Facts | None:
        """The facts remembered for this very state on this basis."""
        entry = self._entries.get(key)
        if entry is None or entry.state is not state or entry.basis != basis:
            return None
        return entry.facts

    def remember(
        self,
        key: AssetKey,
        version: RowVersion,
        state: AssetState,
        facts: Facts | None = None,
        basis: FactsBasis | None = None,
    ) -> None:
        """Remember a state as stored under ``version``, with its facts on ``basis``."""
        if self.capacity == 0:
            return
        self._entries[key] = Remembered(version, state, facts, basis)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
