"""Every read the API, the reports and the CLI make of the projections (one home for read SQL).

KPI slices are sums over ``kpi_monthly`` with medians over ``asset_state``; the fleet overview
and status counts read ``asset_counts``; asset detail and dead letters read their tables
directly. Grouping columns come from a fixed whitelist; values are always parameters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from projections.asset_counts import epoch_us
from projections.carbon import BOAVIZTA_DEFAULT_LIFE_YEARS
from projections.kpi_facts import MEASURES, SECONDS_PER_YEAR, month_of
from projections.kpis import compute
from projections.marketplace import ListedAsset, Offer
from projections.postgres.connection import Connection
from projections.postgres.kpi_store import settings_timeline

Dimension = Literal["category", "supplier", "org_unit", "month"]
DIMENSIONS: tuple[Dimension, ...] = ("category", "supplier", "org_unit", "month")

# asset_state expressions matching kpi_monthly's dimensions for assets whose use ended
_ENDED_DIMENSION_SQL: dict[Dimension, str] = {
    "category": "COALESCE(category, '')",
    "supplier": "COALESCE(supplier, '')",
    "org_unit": "COALESCE(org_unit, '')",
    "month": "date_trunc('month', ended_at AT TIME ZONE 'UTC')::date",
}


@dataclass(frozen=True)
class KpiQuery:
    tenant_id: str
    first_month: date
    last_month: date
    group_by: tuple[Dimension, ...] = ()
    category: str | None = None
    supplier: str | None = None
    org_unit: str | None = None

    @property
    def start(self) -> datetime:
        return datetime(self.first_month.year, self.first_month.month, 1, tzinfo=UTC)

    @property
    def last_day(self) -> date:
        """The last day of the last month."""
        return date.fromordinal(self.end.date().toordinal() - 1)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the last month."""
        y, m = self.last_month.year, self.last_month.month
        return datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)


def _filters(first_arg: int) -> str:
    a = first_arg
    return (
        f"AND (${a}::text IS NULL OR COALESCE(category, '') = ${a}) "
        f"AND (${a + 1}::text IS NULL OR COALESCE(supplier, '') = ${a + 1}) "
        f"AND (${a + 2}::text IS NULL OR COALESCE(org_unit, '') = ${a + 2})"
    )


async def kpi_slices(
    conn: Connection, q: KpiQuery, medians_conn: Connection | None = None
) -> list[dict[str, Any]]:
    """The KPIs of each slice. With ``medians_conn`` (a second connection on the same
    snapshot, ``connection.one_snapshot``) the sums and the lifespan medians are read at the
    same time instead of one after the other (the endpoint's p50 was 22-29 ms on 1M events;
    the Python part after the queries is the larger share of it, so the gain is smaller)."""
    groups = [d for d in DIMENSIONS if d in q.group_by]
    if medians_conn is None:
        rows = await _kpi_sums(conn, q, groups)
        medians = await _median_lifespans(conn, q, groups)
    else:
        rows, medians = await asyncio.gather(
            _kpi_sums(conn, q, groups), _median_lifespans(medians_conn, q, groups)
        )
    out = []
    for r in rows:
        dims = {d: r[d] for d in groups}
        kpis = compute({m: r[m] for m in MEASURES})
        kpis["lifespan_median_years"] = medians.get(tuple(dims.values()))
        if "month" in dims:
            dims["month"] = dims["month"].strftime("%Y-%m")
        out.append({"dimensions": dims, "kpis": kpis})
    return out


async def _kpi_sums(conn: Connection, q: KpiQuery, groups: list[Dimension]) -> list[Any]:
    select_groups = "".join(f"{d}, " for d in groups)
    group_clause = f"GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}" if groups else ""
    sums = ", ".join(f"COALESCE(sum({m}), 0)::bigint AS {m}" for m in MEASURES)
    return list(
        await conn.fetch(
            f"SELECT {select_groups}{sums} FROM kpi_monthly "
            f"WHERE tenant_id = $1 AND month >= $2 AND month <= $3 {_filters(4)} {group_clause}",
            q.tenant_id,
            q.first_month,
            q.last_month,
            q.category,
            q.supplier,
            q.org_unit,
        )
    )


async def _median_lifespans(
    conn: Connection, q: KpiQuery, groups: list[Dimension]
) -> dict[tuple[Any, ...], float]:
    exprs = [_ENDED_DIMENSION_SQL[d] for d in groups]
    select = "".join(f"{e} AS g{i}, " for i, e in enumerate(exprs))
    group_clause = f"GROUP BY {', '.join(exprs)}" if exprs else ""
    rows = await conn.fetch(
        f"SELECT {select}"
        # date_part is float8 already; extract's numeric was cast to float8 per row for
        # percentile_cont (median over 15k assets: 19.5 -> 14.1 ms). Equal but for rounding:
        # 1 of 774 (tenant, category, month) medians differed, by 1.6e-16 relative
        "percentile_cont(0.5) WITHIN GROUP "
        "(ORDER BY date_part('epoch', ended_at - purchased_at)) AS median_s "
        "FROM asset_state WHERE tenant_id = $1 AND ended_at >= $2 AND ended_at < $3 "
        f"AND purchased_at IS NOT NULL AND ended_at >= purchased_at {_filters(4)} "
        f"{group_clause}",
        q.tenant_id,
        q.start,
        q.end,
        q.category,
        q.supplier,
        q.org_unit,
    )
    return {
        tuple(r[f"g{i}"] for i in range(len(groups))): float(r["median_s"]) / SECONDS_PER_YEAR
        for r in rows
        if r["median_s"] is not None
    }


# One statement, so one snapshot: the counts (projections/asset_counts.py) give each category's
# devices in use, those with a purchase date and the sum of their purchase instants; a device
# bought before the month its category's cutoff (now - target lifespan) falls in is past the
# target, and in that one month the devices themselves are compared with the cutoff (the
# partial index of devices in use). It replaced a scan of every device in use: on the 1M-event
# bench, fleet p99 30.0 -> 7.9 ms unloaded and 39.1 -> 10.3 ms under 2,000 events/s of writes.
FLEET_SQL = """
WITH cut AS (
    SELECT category, cutoff, cutoff_month,
           cutoff_month::timestamp AT TIME ZONE 'UTC' AS month_start
    FROM unnest($2::text[], $3::timestamptz[], $4::date[]) AS t(category, cutoff, cutoff_month)
), counted AS (
    SELECT c.category,
           sum(c.devices)::bigint AS active,
           COALESCE(sum(c.devices) FILTER (WHERE c.purchase_month IS NOT NULL), 0)::bigint
             AS with_age,
           COALESCE(sum(c.purchased_us), 0) AS purchased_us,
           COALESCE(sum(c.devices) FILTER (WHERE c.purchase_month < t.cutoff_month), 0)::bigint
             AS past_before
    FROM asset_counts c LEFT JOIN cut t ON t.category = c.category
    WHERE c.tenant_id = $1 AND c.status = 'in_use'
    GROUP BY c.category
), boundary AS (
    SELECT t.category, count(*) AS past_in_month
    FROM cut t JOIN asset_state s
      ON s.tenant_id = $1 AND s.status = 'in_use' AND s.category = t.category
     AND s.purchased_at >= t.month_start AND s.purchased_at <= t.cutoff
    GROUP BY t.category
)
SELECT k.category, k.active, k.with_age, k.purchased_us,
       k.past_before + COALESCE(b.past_in_month, 0) AS past_target
FROM counted k LEFT JOIN boundary b USING (category)
WHERE k.active <> 0
ORDER BY k.category
"""


async def fleet_overview(conn: Connection, tenant_id: str, now: datetime) -> dict[str, Any]:
    """Active devices, their average age and the share past the tenant's target lifespan."""
    settings = (await settings_timeline(conn, tenant_id)).at(now)
    categories = sorted(BOAVIZTA_DEFAULT_LIFE_YEARS)
    cutoffs = [now - timedelta(seconds=settings.target(c) * SECONDS_PER_YEAR) for c in categories]
    rows = await conn.fetch(
        FLEET_SQL, tenant_id, categories, cutoffs, [month_of(c) for c in cutoffs]
    )
    now_us = epoch_us(now)
    age = {r["category"]: (r["with_age"] * now_us - int(r["purchased_us"])) / 1e6 for r in rows}

    def summary(active: int, with_age: int, age_s: float, past: int) -> dict[str, Any]:
        return {
            "active_assets": active,
            "assets_with_known_age": with_age,
            "average_age_years": age_s / with_age / SECONDS_PER_YEAR if with_age else None,
            "past_target_lifespan_share": past / with_age if with_age else None,
        }

    by_category = {
        r["category"]: summary(r["active"], r["with_age"], age[r["category"]], r["past_target"])
        for r in rows
    }
    total = summary(
        sum(r["active"] for r in rows),
        sum(r["with_age"] for r in rows),
        sum(age.values()),
        sum(r["past_target"] for r in rows),
    )
    return {
        "tenant_id": tenant_id,
        "as_of": now.isoformat(),
        **total,
        "target_lifespan_years": {c: settings.target(c) for c in categories},
        "by_category": by_category,
    }


async def lifespan_histories(
    conn: Connection, tenant_id: str, category: str | None, supplier: str | None
) -> list[tuple[datetime | None, datetime | None]]:
    """(purchased_at, ended_at) of every asset of the tenant, optionally of one category and
    supplier: what a lifespan survival curve is estimated from."""
    rows = await conn.fetch(
        "SELECT purchased_at, ended_at FROM asset_state WHERE tenant_id = $1 "
        "AND ($2::text IS NULL OR COALESCE(category, '') = $2) "
        "AND ($3::text IS NULL OR COALESCE(supplier, '') = $3)",
        tenant_id,
        category,
        supplier,
    )
    return [(r["purchased_at"], r["ended_at"]) for r in rows]


async def marketplace_assets(
    conn: Connection,
    tenant_id: str,
    offer_id: str | None = None,
    asset_id: str | None = None,
) -> list[ListedAsset]:
    """The tenant's assets that were ever offered for re-use (only one offer's asset with
    ``offer_id``, only one asset with ``asset_id``), with their offers (the partial index on
    offers keeps this to them)."""
    rows = await conn.fetch(
        "SELECT asset_id, category, purchased_at, status, offers FROM asset_state "
        "WHERE tenant_id = $1 AND offers <> '[]'::jsonb "
        "AND ($2::text IS NULL OR offers @> jsonb_build_array(jsonb_build_object('offer_id', $2)))"
        " AND ($3::text IS NULL OR asset_id = $3) ORDER BY asset_id",
        tenant_id,
        offer_id,
        asset_id,
    )
    return [
        ListedAsset(
            r["asset_id"],
            r["category"],
            r["purchased_at"],
            r["status"],
            tuple(Offer.from_json(o) for o in r["offers"]),
        )
        for r in rows
    ]


async def rejected_transitions(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    """Marketplace events the fold kept but did not apply, with their reasons, newest first
    (``kretslopp offers rejected``; the topic path's answer to an impossible transition)."""
    rows = await conn.fetch(
        "SELECT s.asset_id, a.* FROM asset_state s, jsonb_to_recordset(s.anomalies) AS "
        "a(event_id text, event_type text, occurred_at text, kind text, reason text) "
        "WHERE s.tenant_id = $1 AND s.anomaly_count > 0 AND a.kind = 'rejected_transition' "
        "ORDER BY a.occurred_at DESC, a.event_id",
        tenant_id,
    )
    return [dict(r) for r in rows]


async def asset_status(conn: Connection, tenant_id: str, asset_id: str) -> str | bool | None:
    """The asset's status; False when kretslopp has never seen the asset."""
    row = await conn.fetchrow(
        "SELECT status FROM asset_state WHERE tenant_id = $1 AND asset_id = $2",
        tenant_id,
        asset_id,
    )
    return False if row is None else row["status"]


async def event_recorded(conn: Connection, event_id: str) -> bool:
    """Whether the event log holds this event id (a command already carried out)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM event_log WHERE event_id = $1::uuid)", event_id
        )
    )


async def asset_with_history(
    conn: Connection, tenant_id: str, asset_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """One asset's state row and its events in lifecycle order; None if never seen."""
    row = await conn.fetchrow(
        "SELECT * FROM asset_state WHERE tenant_id = $1 AND asset_id = $2", tenant_id, asset_id
    )
    if row is None:
        return None
    events = await conn.fetch(
        "SELECT event_id::text, event_type, occurred_at, recorded_at, source, payload "
        "FROM event_log WHERE tenant_id = $1 AND asset_id = $2 ORDER BY occurred_at, event_id",
        tenant_id,
        asset_id,
    )
    return dict(row), [dict(e) for e in events]


async def assets_by_status(conn: Connection, tenant_id: str) -> dict[str, int]:
    """The tenant's assets by status, from the counts (``projections/asset_counts.py``)."""
    rows = await conn.fetch(
        "SELECT status, sum(devices) AS n FROM asset_counts WHERE tenant_id = $1 "
        "GROUP BY status HAVING sum(devices) <> 0 ORDER BY status",
        tenant_id,
    )
    return {r["status"] or "unknown": int(r["n"]) for r in rows}


async def asset_quality(conn: Connection, tenant_id: str | None) -> dict[str, int]:
    """Assets, and those with anomalies or an incomplete history (one tenant, or all)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS assets, count(*) FILTER (WHERE anomaly_count > 0) AS anomalies,"
        " count(*) FILTER (WHERE incomplete_history) AS incomplete FROM asset_state"
        " WHERE $1::text IS NULL OR tenant_id = $1",
        tenant_id,
    )
    assert row is not None
    return {"assets": row["assets"], "anomalies": row["anomalies"], "incomplete": row["incomplete"]}


async def event_log_summary(conn: Connection, tenant_id: str | None) -> tuple[int, datetime | None]:
    """(events in the log, when the last one was recorded), one tenant or all."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, max(recorded_at) AS last FROM event_log "
        "WHERE $1::text IS NULL OR tenant_id = $1",
        tenant_id,
    )
    assert row is not None
    return int(row["n"]), row["last"]


async def events_recorded_since(conn: Connection, tenant_id: str, seconds: float) -> int:
    """Events of the tenant that batches applied in the last ``seconds``."""
    n = await conn.fetchval(
        "SELECT count(*) FROM event_log WHERE tenant_id = $1 "
        "AND recorded_at > now() - make_interval(secs => $2)",
        tenant_id,
        seconds,
    )
    return int(n)


async def open_dead_letters_by_reason(
    conn: Connection,
    *,
    group: str | None = None,
    topic: str | None = None,
    key_prefix: bytes | None = None,
) -> dict[str, int]:
    """Unresolved dead letters per reason: of one group and topic, or whose record key starts
    with ``key_prefix`` (a tenant's ``tenant \\0``)."""
    rows = await conn.fetch(
        "SELECT reason_kind, count(*) AS n FROM dead_letters WHERE resolved_at IS NULL "
        "AND ($1::text IS NULL OR consumer_group = $1) AND ($2::text IS NULL OR topic = $2) "
        "AND ($3::bytea IS NULL OR substring(record_key FROM 1 FOR octet_length($3)) = $3) "
        "GROUP BY reason_kind ORDER BY 2 DESC",
        group,
        topic,
        key_prefix,
    )
    return {r["reason_kind"]: r["n"] for r in rows}


async def open_dead_letters(conn: Connection, reason: str | None) -> list[dict[str, Any]]:
    """Unresolved dead letters, oldest first (``kretslopp dlq list``)."""
    rows = await conn.fetch(
        "SELECT id, kafka_partition, kafka_offset, reason_kind, field, reason, "
        "received_at, record_value FROM dead_letters WHERE resolved_at IS NULL "
        "AND ($1::text IS NULL OR reason_kind = $1) ORDER BY id",
        reason,
    )
    return [dict(r) for r in rows]


async def dead_letter(conn: Connection, letter_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM dead_letters WHERE id = $1", letter_id)
    return dict(row) if row is not None else None


async def resolve_dead_letter(conn: Connection, letter_id: int, resolution: str) -> None:
    """Mark a dead letter resolved; it stays as evidence."""
    await conn.execute(
        "UPDATE dead_letters SET resolved_at = now(), resolution = $2 WHERE id = $1",
        letter_id,
        resolution,
    )


async def tenant_summaries(conn: Connection) -> list[dict[str, Any]]:
    """Per tenant: assets by status, certified purchases, mean lifespan of ended assets (the
    table ``kretslopp up`` shows)."""
    if await conn.fetchval("SELECT to_regclass('asset_state') IS NULL"):
        return []
    rows = await conn.fetch(
        """
        SELECT tenant_id, count(*) AS assets,
               count(*) FILTER (WHERE status = 'in_use') AS in_use,
               count(*) FILTER (WHERE status = 'taken_back') AS taken_back,
               count(*) FILTER (WHERE status = 'refurbished') AS refurbished,
               count(*) FILTER (WHERE status = 'recycled') AS recycled,
               count(*) FILTER (WHERE cardinality(certifications) > 0) AS certified,
               count(*) FILTER (WHERE purchased_at IS NOT NULL) AS purchased,
               avg(EXTRACT(epoch FROM ended_at - purchased_at) / 86400 / 365.25)
                   FILTER (WHERE ended_at IS NOT NULL AND purchased_at IS NOT NULL)
                   AS lifespan
        FROM asset_state GROUP BY tenant_id ORDER BY tenant_id
        """
    )
    return [dict(r) for r in rows]


async def event_count(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM event_log"))


async def tenant_event_rows(
    conn: Connection, tenant_id: str, recorded_before: datetime | None
) -> list[dict[str, Any]]:
    """A tenant's events recorded before a moment (all when None), in fold order: what a
    report "as known on" that moment is computed from."""
    rows = await conn.fetch(
        "SELECT * FROM event_log WHERE tenant_id = $1 AND ($2::timestamptz IS NULL "
        "OR recorded_at < $2) ORDER BY asset_id, occurred_at, event_id",
        tenant_id,
        recorded_before,
    )
    return [dict(r) for r in rows]


async def schema_exists(conn: Connection) -> bool:
    """Whether a worker (or `migrate`) has created the projection tables yet."""
    return bool(await conn.fetchval("SELECT to_regclass('checkpoints') IS NOT NULL"))


async def ping(conn: Connection) -> None:
    """Raises if PostgreSQL does not answer (``/health``)."""
    await conn.fetchval("SELECT 1")
