"""The worker's metrics count what a committed batch did, with no tenant in any label."""

from __future__ import annotations

import math

from prometheus_client import generate_latest

from projections.batch import SourceRecord, prepare
from projections.postgres.writer import BatchOutcome
from streams.metrics import WorkerMetrics
from tests.factories import as_record, event_dict


def sample(metrics: WorkerMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def test_a_batch_moves_the_counters_lag_and_freshness() -> None:
    metrics = WorkerMetrics()
    assert math.isnan(sample(metrics, "kretslopp_freshness_seconds"))
    key, value = as_record(event_dict("purchased", tenant="acme"))
    records = [
        SourceRecord(0, 10, key, value),
        SourceRecord(0, 11, b"k", b"not json"),
        SourceRecord(1, 5, key, value),
    ]
    batch = prepare(records)
    outcome = BatchOutcome(
        applied=1,
        duplicates=1,
        dead_letters=1,
        below_checkpoint=0,
        refolded_assets=0,
        assets_written=1,
    )
    metrics.observe(len(records), batch, outcome, 0.02, {0: 20, 1: 6}.get)
    assert sample(metrics, "kretslopp_events_applied_total") == 1
    assert sample(metrics, "kretslopp_duplicates_total") == 1
    (letter,) = batch.dead_letters
    assert sample(metrics, "kretslopp_dead_letters_total", {"reason": letter.kind}) == 1
    assert sample(metrics, "kretslopp_consumer_lag", {"partition": "0"}) == 20 - 12
    assert sample(metrics, "kretslopp_consumer_lag", {"partition": "1"}) == 0
    assert sample(metrics, "kretslopp_batch_records_sum") == 3
    assert 0 <= sample(metrics, "kretslopp_freshness_seconds") < 5
    assert b"acme" not in generate_latest(metrics.registry)


def test_records_the_database_refused_count_as_their_own_reason() -> None:
    metrics = WorkerMetrics()
    key, value = as_record(event_dict("purchased"))
    batch = prepare([SourceRecord(0, 0, key, value)])
    outcome = BatchOutcome(0, 0, 1, 0, 0, 0)  # the event was dead-lettered one by one
    metrics.observe(1, batch, outcome, 0.1, lambda p: None)
    assert sample(metrics, "kretslopp_dead_letters_total", {"reason": "rejected_by_database"}) == 1
