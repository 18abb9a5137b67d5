"""The worker's Prometheus metrics, served on ``KRETSLOPP_METRICS_PORT`` when it is set.

Counters are what the batch transactions committed (a batch that rolled back counts nothing);
no label carries tenant data, only partitions and dead-letter reasons, which are ours. Lag is
the partition's high-water mark (from the consumer's last fetch) minus the PostgreSQL
checkpoint; freshness the seconds since the last batch that applied an event.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from projections.batch import Batch
from projections.postgres.writer import BatchOutcome


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.applied = Counter(
            "kretslopp_events_applied_total", "Events applied to the projections", registry=r
        )
        self.duplicates = Counter(
            "kretslopp_duplicates_total",
            "Records skipped as an event already applied (same event_id)",
            registry=r,
        )
        self.dead_letters = Counter(
            "kretslopp_dead_letters_total",
            "Records dead-lettered, by reason",
            ["reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "kretslopp_batch_records",
            "Records per batch transaction",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=r,
        )
        self.transaction_seconds = Histogram(
            "kretslopp_batch_transaction_seconds",
            "Seconds from a batch's decode to its commit in PostgreSQL",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.lag = Gauge(
            "kretslopp_consumer_lag",
            "Records on the partition not yet applied (high-water mark - checkpoint)",
            ["partition"],
            registry=r,
        )
        self.freshness = Gauge(
            "kretslopp_freshness_seconds",
            "Seconds since the last batch that applied an event",
            registry=r,
        )
        self._last_applied_at: float | None = None
        self.freshness.set_function(self._age)

    def _age(self) -> float:
        return (
            float("nan") if self._last_applied_at is None else time.time() - self._last_applied_at
        )

    def observe(
        self,
        records: int,
        batch: Batch,
        outcome: BatchOutcome,
        seconds: float,
        highwater: Callable[[int], int | None],
    ) -> None:
        """One committed batch: its counts, size and time, and the lag it leaves behind."""
        self.applied.inc(outcome.applied)
        self.duplicates.inc(outcome.duplicates)
        for letter in batch.dead_letters:
            self.dead_letters.labels(letter.kind).inc()
        rejected = outcome.dead_letters - len(batch.dead_letters)
        if rejected > 0:  # records PostgreSQL refused, dead-lettered one by one
            self.dead_letters.labels("rejected_by_database").inc(rejected)
        self.batch_size.observe(records)
        self.transaction_seconds.observe(seconds)
        if outcome.applied:
            self._last_applied_at = time.time()
        for partition, offset in batch.max_offsets().items():
            end = highwater(partition)
            if end is not None:
                self.lag.labels(str(partition)).set(max(0, end - (offset + 1)))

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
