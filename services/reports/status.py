"""``kretslopp status``: is the projection keeping up, and what did it refuse?"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections.database import Connection, connect
from services.adapter_store import count_signals
from streams.watermarks import high_watermarks


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
    unmapped_lifecycle_signals: dict[str, int] = Field(
        description="Status or substate changes adapters received but could not map, per "
        "tool (`kretslopp adapters unmapped`)."
    )
    dead_letters_by_reason: dict[str, int] = Field(
        description="Unresolved dead letters whose record key names this tenant "
        "(tenant \\0 asset). Records without a readable key count only operator-wide."
    )


async def collect_tenant_status(conn: Connection, tenant_id: str) -> TenantStatus:
    by_status = {
        r["status"] or "unknown": r["n"]
        for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM asset_state WHERE tenant_id = $1 "
            "GROUP BY status ORDER BY status",
            tenant_id,
        )
    }
    counts = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE anomaly_count > 0) AS anomalies,"
        " count(*) FILTER (WHERE incomplete_history) AS incomplete"
        " FROM asset_state WHERE tenant_id = $1",
        tenant_id,
    )
    log = await conn.fetchrow(
        "SELECT count(*) AS n, max(recorded_at) AS last FROM event_log WHERE tenant_id = $1",
        tenant_id,
    )
    assert counts is not None and log is not None
    prefix = tenant_id.encode() + b"\x00"
    dead = await conn.fetch(
        "SELECT reason_kind, count(*) AS n FROM dead_letters WHERE resolved_at IS NULL "
        "AND substring(record_key FROM 1 FOR $2) = $1 GROUP BY reason_kind ORDER BY 2 DESC",
        prefix,
        len(prefix),
    )
    return TenantStatus(
        tenant_id=tenant_id,
        assets=sum(by_status.values()),
        assets_by_status=by_status,
        assets_with_anomalies=counts["anomalies"],
        assets_with_incomplete_history=counts["incomplete"],
        events_in_log=log["n"],
        last_recorded_at=log["last"],
        dead_letters_by_reason={r["reason_kind"]: r["n"] for r in dead},
        unmapped_lifecycle_signals=await count_signals(conn, tenant_id),
    )


async def collect_status(settings: Settings) -> StatusReport:
    kafka, dsn = settings.require_endpoints()
    report = StatusReport(settings.topic, settings.consumer_group)
    watermarks: dict[int, int] = {}
    try:
        watermarks = await high_watermarks(kafka, settings.topic)
    except Exception as exc:  # status must still show what PostgreSQL knows
        report.broker_error = repr(exc)
    conn = await connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('checkpoints') IS NULL"):
            return report  # the worker has not created its schema yet
        rows = await conn.fetch(
            "SELECT * FROM checkpoints WHERE consumer_group = $1 AND topic = $2",
            settings.consumer_group,
            settings.topic,
        )
        by_partition = {r["kafka_partition"]: r for r in rows}
        for p in sorted(set(by_partition) | set(watermarks)):
            r = by_partition.get(p)
            report.partitions.append(
                PartitionStatus(
                    partition=p,
                    next_offset=r["next_offset"] if r else 0,
                    high_watermark=watermarks.get(p),
                    events_applied=r["events_applied"] if r else 0,
                    duplicates_skipped=r["duplicates_skipped"] if r else 0,
                    dead_letters=r["dead_letters"] if r else 0,
                )
            )
        report.dead_letters_by_reason = {
            r["reason_kind"]: r["n"]
            for r in await conn.fetch(
                "SELECT reason_kind, count(*) AS n FROM dead_letters "
                "WHERE consumer_group = $1 AND topic = $2 AND resolved_at IS NULL "
                "GROUP BY reason_kind ORDER BY 2 DESC",
                settings.consumer_group,
                settings.topic,
            )
        }
        counts = await conn.fetchrow(
            "SELECT count(*) AS assets, count(*) FILTER (WHERE anomaly_count > 0) AS anomalies,"
            " count(*) FILTER (WHERE incomplete_history) AS incomplete FROM asset_state"
        )
        assert counts is not None
        report.assets = counts["assets"]
        report.assets_with_anomalies = counts["anomalies"]
        report.assets_with_incomplete_history = counts["incomplete"]
        report.events_in_log = await conn.fetchval("SELECT count(*) FROM event_log")
        report.unmapped_lifecycle_signals = await count_signals(conn, None)
    finally:
        await conn.close()
    return report


def render(report: StatusReport, console: Console) -> None:
    table = Table(title=f"{report.topic}  (consumer group {report.consumer_group})")
    for column in (
        "partition",
        "checkpoint",
        "high water",
        "lag",
        "applied",
        "duplicates",
        "dead letters",
    ):
        table.add_column(column, justify="right")
    for p in report.partitions:
        table.add_row(
            str(p.partition),
            str(p.next_offset),
            "?" if p.high_watermark is None else str(p.high_watermark),
            "?" if p.lag is None else str(p.lag),
            str(p.events_applied),
            str(p.duplicates_skipped),
            str(p.dead_letters),
        )
    console.print(table)
    if report.broker_error:
        console.print(
            f"[yellow]broker not reachable, lag unknown:[/yellow] {escape(report.broker_error)}"
        )
    console.print(
        f"total lag {report.total_lag if report.total_lag is not None else '?'} | "
        f"events in log {report.events_in_log} | assets {report.assets} | "
        f"with anomalies {report.assets_with_anomalies} | "
        f"incomplete history {report.assets_with_incomplete_history}"
    )
    if report.dead_letters_by_reason:
        reasons = escape(", ".join(f"{k}: {v}" for k, v in report.dead_letters_by_reason.items()))
        console.print(f"unresolved dead letters by reason: {reasons} (see `kretslopp dlq list`)")
    if report.unmapped_lifecycle_signals:
        signals = escape(
            ", ".join(f"{k}: {v}" for k, v in report.unmapped_lifecycle_signals.items())
        )
        console.print(
            f"lifecycle signals adapters could not map: {signals} "
            "(see `kretslopp adapters unmapped`)"
        )


def run_status(settings: Settings, *, as_json: bool) -> int:
    report = asyncio.run(collect_status(settings))
    if as_json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report, Console())
    return 0
