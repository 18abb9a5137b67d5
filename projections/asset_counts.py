"""How many assets each tenant has, by category, status and month of purchase. Pure.

The fleet overview (devices in use, their average age, the share past the target lifespan)
and the assets-by-status count read these few rows instead of every asset: under the bench's
write load of 2,000 events/s, scanning ~50k assets' index entries took the fleet endpoint's
p99 to 57-99 ms (1M events, README Performance), over the 50 ms goal. Each asset is in
exactly one count, so the writer keeps them as the aggregates are kept: minus the old
state's count, plus the new one's, in the batch's transaction; the sum of the counts always
equals a one-pass count of the asset states (``one_pass``), which every integration test
asserts.

Per count: ``devices`` and ``purchased_us``, the sum of the devices' purchase instants in
whole microseconds since 1970 (UTC), from which the fleet overview's age sum is exact:
``devices * now - purchased_us``. Microseconds of any date Python holds fit a Python int; in
PostgreSQL the sum is ``numeric`` (a bigint would overflow at ~5,400 devices of one month).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from projections.asset_state import AssetState
from projections.kpi_facts import month_of

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class CountKey(NamedTuple):
    """One row of ``asset_counts``; a NamedTuple for the reason ``kpi_facts.KpiKey`` is one."""

    tenant_id: str
    category: str  # '' unknown (no purchase seen)
    status: str  # '' unknown
    purchase_month: date | None  # the UTC month of purchase; None: no purchase date known

    def sort_key(self) -> tuple[str, str, str, bool, date]:
        """One lock order for every writer: a total order, no purchase month first."""
        month = self.purchase_month
        return (self.tenant_id, self.category, self.status, month is not None, month or date.min)


Counts = dict[CountKey, tuple[int, int]]  # key -> (devices, purchased_us)


def epoch_us(moment: datetime) -> int:
    """Whole microseconds since 1970-01-01 UTC, exact (no float in between)."""
    return (moment - _EPOCH) // _MICROSECOND


def count_of(state: AssetState) -> tuple[CountKey, int]:
    """The asset's count and its purchase instant (0 without one)."""
    purchased = state.purchased_at
    key = CountKey(
        state.tenant_id,
        state.category or "",
        state.status.value if state.status is not None else "",
        month_of(purchased) if purchased is not None else None,
    )
    return key, epoch_us(purchased) if purchased is not None else 0


def _add(counts: Counts, state: AssetState, sign: int) -> None:
    key, us = count_of(state)
    devices, total = counts.get(key, (0, 0))
    counts[key] = (devices + sign, total + sign * us)


def without_zeros(counts: Counts) -> Counts:
    return {k: v for k, v in counts.items() if v != (0, 0)}


def _same_count(a: AssetState, b: AssetState) -> bool:
    """Both states of one asset fall in the same count with the same purchase instant: the
    inputs of ``count_of`` (an equal instant has the same UTC month and microseconds)."""
    return a.status is b.status and a.category == b.category and a.purchased_at == b.purchased_at


def delta(old: Iterable[AssetState], new: Iterable[AssetState]) -> Counts:
    """What the counts move by when each asset's ``old`` state (if it had one) is replaced by
    its ``new`` one; zeros dropped, so a repair (no status, category or purchase moved)
    changes nothing. An asset whose old and new state share a count is not counted at all:
    most events move none of its inputs, and two count keys per touched asset were ~6 % of
    the writer's profile (cProfile, 100k events of the bench's fleet)."""
    counts: Counts = {}
    before: dict[tuple[str, str], AssetState] = {}
    for s in old:  # one old state per asset is paired; any other leaves its count at once
        earlier = before.get((s.tenant_id, s.asset_id))
        if earlier is not None:
            _add(counts, earlier, -1)
        before[(s.tenant_id, s.asset_id)] = s
    for s in new:
        was = before.pop((s.tenant_id, s.asset_id), None)
        if was is not None:
            if _same_count(was, s):
                continue
            _add(counts, was, -1)
        _add(counts, s, +1)
    for was in before.values():  # an old state without a new one leaves its count
        _add(counts, was, -1)
    return without_zeros(counts)


def one_pass(states: Iterable[AssetState]) -> Counts:
    """The counts recomputed from scratch: the reference the incremental path must equal."""
    return delta((), states)


def add_into(total: Counts, part: Counts) -> None:
    for key, (devices, us) in part.items():
        was_devices, was_us = total.get(key, (0, 0))
        total[key] = (was_devices + devices, was_us + us)
