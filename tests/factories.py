"""Builders of valid lifecycle events for tests (plain dicts and validated models)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from events.codec import EVENT_ADAPTER, key_for
from events.models import CURRENT_SCHEMA_VERSION, LifecycleEvent

T0 = datetime(2020, 1, 1, tzinfo=UTC)
# Generated histories end here at the latest: occurred_at may not lie in the future.
LATEST = datetime(2026, 1, 1, tzinfo=UTC)


def event_dict(
    kind: str,
    *,
    tenant: str = "tenant-a",
    asset: str = "asset-1",
    at: datetime = T0,
    event_id: str | None = None,
    **payload: Any,
) -> dict[str, Any]:
    defaults: dict[str, dict[str, Any]] = {
        "purchased": {
            "category": "laptop",
            "manufacturer": "Lenovo",
            "model": "ThinkPad T14",
            "supplier": "Atea",
        },
        "repaired": {},
        "redeployed": {"to_org_unit": "unit-2"},
        "taken_back": {"counterparty": "Inrego", "channel": "refurbishment"},
        "refurbished": {"refurbisher": "Inrego"},
        "recycled": {"recycler": "Stena", "inside_eu_eea": True},
        "offered_for_reuse": {"org_unit": "unit-1", "condition": "good"},
        "reserved": {"offer_id": str(uuid.uuid4()), "org_unit": "unit-3"},
        "reservation_released": {"offer_id": str(uuid.uuid4()), "org_unit": "unit-3"},
        "offer_withdrawn": {"offer_id": str(uuid.uuid4())},
    }
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": kind,
        "schema_version": CURRENT_SCHEMA_VERSION,
        "tenant_id": tenant,
        "asset_id": asset,
        "occurred_at": at.isoformat(),
        "source": "tests",
        "payload": {**defaults[kind], **payload},
    }


def event(kind: str, **kwargs: Any) -> LifecycleEvent:
    return EVENT_ADAPTER.validate_python(event_dict(kind, **kwargs))


def as_logged(e: LifecycleEvent) -> dict[str, Any]:
    """The event as a row of ``event_log`` reads back (what the rebuild and the refold get):
    its instant from a timestamptz, in UTC; the payload from its stored JSON text."""
    from projections.event_rows import payload_json

    return {
        "event_id": e.event_id,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "tenant_id": e.tenant_id,
        "asset_id": e.asset_id,
        "occurred_at": e.occurred_at.astimezone(UTC),
        "source": e.source,
        "recorded_at": e.occurred_at.astimezone(UTC),
        "payload": orjson.loads(payload_json(e)),
    }


def random_history(
    rng: random.Random, tenant: str, asset: str, length: int
) -> list[dict[str, Any]]:
    """A plausible history of ``length`` events, sometimes with oddities the fold must handle:
    no purchase (incomplete history), events after recycling, same-instant events."""
    at = T0 + timedelta(days=rng.randint(0, 1500))
    out: list[dict[str, Any]] = []
    if rng.random() > 0.05:
        out.append(
            event_dict(
                "purchased",
                tenant=tenant,
                asset=asset,
                at=at,
                category=rng.choice(["laptop", "monitor", "smartphone", "server"]),
                condition=rng.choice(["new", "new", "refurbished"]),
                org_unit=rng.choice(["u1", "u2", "u3"]),
                certifications=[{"scheme": "tco_certified", "valid_until": "2023-06-30"}]
                if rng.random() < 0.5
                else [],
                product_carbon_footprint_kg_co2e=round(rng.uniform(50, 400), 1)
                if rng.random() < 0.4
                else None,
            )
        )
    while len(out) < length:
        at = min(at + timedelta(days=rng.choice([0, 1, 30, 200])), LATEST)
        kind = rng.choices(
            ["repaired", "redeployed", "taken_back", "refurbished", "recycled"],
            [40, 40, 6, 6, 4],
        )[0]
        payload: dict[str, Any] = {}
        if kind == "redeployed":
            payload["to_org_unit"] = rng.choice(["u1", "u2", "u3"])
        out.append(event_dict(kind, tenant=tenant, asset=asset, at=at, **payload))
    for item in out:
        item["payload"] = {k: v for k, v in item["payload"].items() if v is not None}
    return out


def fleet(assets: int, events_per_asset: int, seed: int = 7) -> list[dict[str, Any]]:
    """Histories of many assets of two tenants, interleaved as a producer would send them."""
    rng = random.Random(seed)
    histories = [
        random_history(rng, f"tenant-{i % 2}", f"asset-{i:05d}", events_per_asset)
        for i in range(assets)
    ]
    order = [i for i, history in enumerate(histories) for _ in history]
    rng.shuffle(order)
    cursors = [0] * assets
    out: list[dict[str, Any]] = []
    for i in order:  # each asset's events keep their order; assets interleave at random
        out.append(histories[i][cursors[i]])
        cursors[i] += 1
    return out


def as_record(obj: dict[str, Any]) -> tuple[bytes, bytes]:
    return key_for(obj["tenant_id"], obj["asset_id"]), orjson.dumps(obj)
