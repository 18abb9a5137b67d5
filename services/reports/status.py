"""``kretslopp status``: is the projection keeping up, and what did it refuse?"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from infra.settings import Settings
from projections.postgres import checkpoints, reads
from projections.postgres.adapter_store import count_signals
from projections.postgres.connection import Connection, connect
from streams.watermarks import WatermarkReader, high_watermarks


@dataclass
class PartitionStatus:
    partition: int
    next_offset: int
    high_watermark: int | None
    events_applied: int
    duplicates_skipped: int
    dead_letters: int

    @property
    def lag(self) -> int | None:
        if self.high_watermark is None:
            return None
        return max(self.high_watermark - self.next_offset, 0)


@dataclass
class StatusReport:
    topic: str
    consumer_group: str
    partitions: list[PartitionStatus] = field(default_factory=list)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    assets: int = 0
    assets_with_anomalies: int = 0
    assets_with_incomplete_history: int = 0
    events_in_log: int = 0
    unmapped_lifecycle_signals: dict[str, int] = field(default_factory=dict)
    broker_error: str | None = None

    @property
    def total_lag(self) -> int | None:
        lags = [p.lag for p in self.partitions]
        return None if any(lag is None for lag in lags) else sum(lag or 0 for lag in lags)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for row, part in zip(out["partitions"], self.partitions, strict=True):
            row["lag"] = part.lag
        out["total_lag"] = self.total_lag
        return out


class TenantStatus(BaseModel):
    """What a tenant key may see of operations: its own assets, events and dead letters.
    Partition offsets and other tenants' figures are operator data (``/v1/status``)."""

    tenant_id: str
    assets: int
    assets_by_status: dict[str, int]
    assets_with_anomalies: int
    assets_with_incomplete_history: int
    events_in_log: int
    last_recorded_at: datetime | None
    events_applied_last_minute: int
    pipeline_lag_by_partition: dict[str, int] = Field(
        description="Records on each partition not yet applied, of all tenants (partition -> "
        "records): how far behind the numbers of every tenant are. Counts only, no tenant "
        "data; empty when the broker did not answer."
    )
    unmapped_lifecycle_signals: dict[str, int] = Field(
        description="Status or substate changes adapters received but could not map, per "
        "tool (`kretslopp adapters unmapped`)."
    )
    dead_letters_by_reason: dict[str, int] = Field(
        description="Unresolved dead letters whose record key names this tenant "
        "(tenant \\0 asset). Records without a readable key count only operator-wide."
    )


async def collect_tenant_status(
    conn: Connection, tenant_id: str, settings: Settings, reader: WatermarkReader | None = None
) -> TenantStatus:
    by_status = await reads.assets_by_status(conn, tenant_id)
    lag: dict[str, int] = {}
    if reader is not None:
        try:
            ends = await reader.read()
        except Exception:  # the tenant's own figures still come from PostgreSQL
            ends = {}
        done = {
            c.partition: c.next_offset
            for c in await checkpoints.of_group(conn, settings.consumer_group, settings.topic)
        }
        lag = {str(p): max(0, end - done.get(p, 0)) for p, end in sorted(ends.items())}
    quality = await reads.asset_quality(conn, tenant_id)
    events, last = await reads.event_log_summary(conn, tenant_id)
    return TenantStatus(
        tenant_id=tenant_id,
        assets=quality["assets"],
        assets_by_status=by_status,
        assets_with_anomalies=quality["anomalies"],
        assets_with_incomplete_history=quality["incomplete"],
        events_in_log=events,
        last_recorded_at=last,
        events_applied_last_minute=await reads.events_recorded_since(conn, tenant_id, 60),
        pipeline_lag_by_partition=lag,
        dead_letters_by_reason=await reads.open_dead_letters_by_reason(
            conn, key_prefix=tenant_id.encode() + b"\x00"
        ),
        unmapped_lifecycle_signals=await count_signals(conn, tenant_id),
    )


async def collect_status(
    settings: Settings,
    conn: Connection | None = None,
    reader: WatermarkReader | None = None,
) -> StatusReport:
    """Operator-wide status. The API passes a connection from its pool and its one watermark
    reader; the CLI opens a connection and reads the watermarks once."""
    kafka, dsn = settings.require_endpoints()
    report = StatusReport(settings.topic, settings.consumer_group)
    watermarks: dict[int, int] = {}
    try:
        if reader is not None:
            watermarks = await reader.read()
        else:
            watermarks = await high_watermarks(kafka, settings.topic)
    except Exception as exc:  # status must still show what PostgreSQL knows
        report.broker_error = repr(exc)
    if conn is None:
        own = await connect(dsn)
        try:
            return await _fill(report, own, settings, watermarks)
        finally:
            await own.close()
    return await _fill(report, conn, settings, watermarks)


async def _fill(
    report: StatusReport, conn: Connection, settings: Settings, watermarks: dict[int, int]
) -> StatusReport:
    if not await reads.schema_exists(conn):
        return report  # the worker has not created its schema yet
    by_partition = {
        c.partition: c
        for c in await checkpoints.of_group(conn, settings.consumer_group, settings.topic)
    }
    for p in sorted(set(by_partition) | set(watermarks)):
        c = by_partition.get(p)
        report.partitions.append(
            PartitionStatus(
                partition=p,
                next_offset=c.next_offset if c else 0,
                high_watermark=watermarks.get(p),
                events_applied=c.events_applied if c else 0,
                duplicates_skipped=c.duplicates_skipped if c else 0,
                dead_letters=c.dead_letters if c else 0,
            )
        )
    report.dead_letters_by_reason = await reads.open_dead_letters_by_reason(
        conn, group=settings.consumer_group, topic=settings.topic
    )
    quality = await reads.asset_quality(conn, None)
    report.assets = quality["assets"]
    report.assets_with_anomalies = quality["anomalies"]
    report.assets_with_incomplete_history = quality["incomplete"]
    report.events_in_log, _ = await reads.event_log_summary(conn, None)
    report.unmapped_lifecycle_signals = await count_signals(conn, None)
    return report
