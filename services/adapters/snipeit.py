"""Snipe-IT: activity-log entries and maintenances (REST API v1 shapes) -> events.

Snipe-IT's webhooks are Slack-shaped chat messages, not data, so a small relay (or a scheduled
poll of ``/api/v1/reports/activity`` and ``/api/v1/maintenances``) posts each entry together
with the asset as ``GET /api/v1/hardware/{id}`` returns it::

    {"activity": {...}, "asset": {...}}        or        {"maintenance": {...}, "asset": {...}}

| Snipe-IT | event |
|---|---|
| activity ``create new`` | purchased (``category``, ``manufacturer``, ``model``, ``supplier``, ``purchase_date``) |
| activity ``checkout`` with ``checkout_counter`` > 1 | redeployed, to the asset's ``location`` |
| first ``checkout`` (``checkout_counter`` 1) | not mapped: deployment after purchase |
| activity ``checkin from`` | not mapped: back in IT stock is no lifecycle fact |
| maintenance of type Repair / Upgrade, completed | repaired (repair / upgrade) |
| other maintenance types | not mapped |
| status change to an *archived* label Sold / Donated / Returned to supplier | taken_back (resale / donation / refurbishment) |
| status change to the archived label Recycled | recycled (needs ``_snipeit_inside_eu_eea`` custom field) |
| other status changes (pending, deployable, undeployable) | not mapped |

A checkout to a person uses the asset's location, never the person: no personal data.
"""

from __future__ import annotations

from typing import Any

from services.adapters.base import (
    AdapterInputError,
    Mapping,
    as_object,
    category_of,
    display,
    money,
    parse_bool,
    parse_time,
    required,
    whole_number,
)

VENDOR = "snipe-it"
ARCHIVED_TAKE_BACK = {
    "sold": "resale",
    "donated": "donation",
    "returned to supplier": "refurbishment",
}


def _time(value: Any, field: str) -> Any:
    """Snipe-IT dates come as {"datetime": "...", "formatted": "..."} or {"date": ...}."""
    if isinstance(value, dict):
        value = value.get("datetime") or value.get("date")
    return parse_time(value, field)


def _custom(asset: dict[str, Any], name: str) -> Any:
    fields = as_object(asset.get("custom_fields"), "asset.custom_fields")
    for label, entry in fields.items():
        if isinstance(entry, dict) and (entry.get("field") == name or label == name):
            return entry.get("value")
    return None


def map_entry(tenant_id: str, entry: dict[str, Any]) -> Mapping:
    asset = as_object(entry.get("asset"), "asset", required=True)
    asset_id = (
        display(asset.get("serial"), "asset.serial")
        or display(asset.get("asset_tag"), "asset.asset_tag")
        or display(required(asset, "id", "asset."), "asset.id")
        or ""
    )
    out = Mapping(VENDOR, tenant_id, asset_id)

    def emit(kind: str, when: Any, change_id: str, payload: dict[str, Any]) -> None:
        out.emit(kind, payload, at=when, change_id=change_id)

    if "maintenance" in entry:
        m = as_object(entry["maintenance"], "maintenance", required=True)
        kind = (
            display(m.get("asset_maintenance_type"), "maintenance.asset_maintenance_type") or ""
        ).lower()
        if kind not in ("repair", "upgrade"):
            out.unmapped.append(f"maintenance of type {kind or '(none)'!r} is no repair or upgrade")
        elif not m.get("completion_date"):
            out.unmapped.append("maintenance not completed yet: a repair counts when done")
        else:
            emit(
                "repaired",
                _time(m["completion_date"], "maintenance.completion_date"),
                f"maintenance-{required(m, 'id', 'maintenance.')}",
                {"kind": kind, "cost": money(m.get("cost"), m.get("currency"))},
            )
        return out

    activity = as_object(entry.get("activity"), "activity", required=True)
    action = (display(activity.get("action_type"), "activity.action_type") or "").lower()
    when = _time(activity.get("created_at"), "activity.created_at")
    change = f"activity-{required(activity, 'id', 'activity.')}"
    if action == "create new":
        emit(
            "purchased",
            _time(asset.get("purchase_date"), "asset.purchase_date")
            if asset.get("purchase_date")
            else when,
            change,
            {
                "category": category_of(
                    display(asset.get("category"), "asset.category"), "asset.category"
                ),
                "manufacturer": display(asset.get("manufacturer"), "asset.manufacturer")
                or required(asset, "manufacturer", "asset."),
                "model": display(asset.get("model"), "asset.model")
                or required(asset, "model", "asset."),
                "serial": display(asset.get("serial"), "asset.serial"),
                "supplier": display(asset.get("supplier"), "asset.supplier")
                or required(asset, "supplier", "asset."),
                "price": money(asset.get("purchase_cost"), asset.get("currency")),
                "warranty_months": _warranty(asset.get("warranty_months")),
                "org_unit": display(asset.get("location"), "asset.location"),
            },
        )
    elif action == "checkout":
        if (whole_number(asset.get("checkout_counter"), "asset.checkout_counter") or 0) <= 1:
            out.unmapped.append("first checkout is the deployment after purchase, no redeployment")
        else:
            location = display(asset.get("location"), "asset.location") or display(
                asset.get("rtd_location"), "asset.rtd_location"
            )
            if not location:
                raise AdapterInputError("asset.location", "is required to name the new org unit")
            emit("redeployed", when, change, {"to_org_unit": location})
    elif action in ("checkin from", "checkin"):
        out.unmapped.append("checkin returns the asset to IT stock; no lifecycle fact")
    elif action == "update":
        status = as_object(asset.get("status_label"), "asset.status_label")
        label = (display(status, "asset.status_label") or "").lower()
        status_type = (
            display(status.get("status_type"), "asset.status_label.status_type")
            or display(status.get("status_meta"), "asset.status_label.status_meta")
            or ""
        ).lower()
        if status_type != "archived":
            out.unmapped.append(
                f"status {label!r} ({status_type or 'unknown type'}) is no end of use"
            )
        elif label in ARCHIVED_TAKE_BACK:
            emit(
                "taken_back",
                when,
                change,
                {
                    "counterparty": display(asset.get("supplier"), "asset.supplier")
                    or required(asset, "supplier", "asset."),
                    "channel": ARCHIVED_TAKE_BACK[label],
                },
            )
        elif label == "recycled":
            inside = _custom(asset, "_snipeit_inside_eu_eea")
            if inside in (None, ""):
                out.unmapped.append("Recycled without _snipeit_inside_eu_eea: never assumed")
            else:
                emit(
                    "recycled",
                    when,
                    change,
                    {
                        "recycler": display(asset.get("supplier"), "asset.supplier") or "unknown",
                        "inside_eu_eea": parse_bool(inside, "asset.custom_fields"),
                    },
                )
        else:
            out.unmapped.append(f"archived status {label!r} has no mapping")
    else:
        out.unmapped.append(f"activity {action!r} has no mapping")
    return out


def _warranty(value: Any) -> int | None:
    """Snipe-IT sends ``"36 months"``; a bare number is accepted too."""
    if isinstance(value, (dict, list, bool)):
        raise AdapterInputError("asset.warranty_months", "must be text or a number")
    words = str(value).split() if value is not None else []
    if not words:
        return None
    try:
        return int(words[0])
    except ValueError:
        raise AdapterInputError("asset.warranty_months", f"{value!r} is not months") from None
