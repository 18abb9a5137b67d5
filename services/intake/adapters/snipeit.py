"""Snipe-IT: activity-log entries and maintenances (REST API v1 shapes) -> events.

Snipe-IT's webhooks are Slack-shaped chat messages, not data, so a small relay (or a scheduled
poll of ``/api/v1/reports/activity`` and ``/api/v1/maintenances``) posts each entry together
with the asset as ``GET /api/v1/hardware/{id}`` returns it::

    {"activity": {...}, "asset": {...}}        or        {"maintenance": {...}, "asset": {...}}

| Snipe-IT | event |
|---|---|
| activity ``create new`` | purchased (``category``, ``manufacturer``, ``model``, ``supplier``, ``purchase_date``) |
| activity ``checkout`` with ``checkout_counter`` > 1 | redeployed, to the asset's ``location`` |
| first ``checkout`` (``checkout_counter`` 1) | not mapped: the deployment after purchase |
| a status change in ``log_meta`` (update or checkin) to Sold / Donated / Returned to supplier | taken_back (resale / donation / refurbishment) |
| a status change in ``log_meta`` to Recycled | recycled (needs the ``inside_eu_eea`` custom field) |
| ``checkin`` without a status change; an update without one (notes, location...) | not mapped |
| maintenance of type Repair / Upgrade, completed | repaired (repair / upgrade) |
| other maintenance types | not mapped |

Facts from Snipe-IT's source (v8): ``ActionlogsTransformer::changedInfo`` reports a status
change in ``log_meta`` under the translated "Status Label" key (``status_id`` in the raw log)
as ``{"old": "[id: 2] Ready to Deploy", "new": "[id: 4] Sold"}``; a lease return is logged
only as a checkin whose ``log_meta`` carries such a change. Custom field columns are
``_snipeit_<name>_<field id>`` (``CustomField::convertUnicodeDbSlug``). Activity and maintenance
types are stored in the language of the user who acted ("skapa ny", "Reparera"): they are read
through the tenant's ``words`` setting, with the Swedish ones built in. Seeded categories are
plural ("Laptops", "Mobile Phones"). A checkout to a person uses the asset's location, never
the person: no personal data.
"""

from __future__ import annotations

import re
from typing import Any

from services.intake.adapters.base import (
    AdapterInputError,
    AdapterOptions,
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
RECYCLED = "recycled"
# Translations Snipe-IT stores for the activity and maintenance types we read (sv), beside
# the tenant's own ``words``.
BUILT_IN_WORDS = {
    "skapa ny": "create new",
    "reparera": "repair",
    "reparation": "repair",
    "uppgradering": "upgrade",
    "uppgradera": "upgrade",
    "utcheckning": "checkout",
    "incheckning": "checkin from",
    "uppdatera": "update",
    "såld": "sold",
    "donerad": "donated",
    "återlämnad till leverantör": "returned to supplier",
    "återvunnen": "recycled",
}
_ID_PREFIX = re.compile(r"^\[id: ?\d+\]\s*")
_STATUS_KEYS = {"status_id", "status label", "status", "statusetikett"}


def _word(text: str | None, options: AdapterOptions) -> str:
    word = options.settings.word(text or "")
    return BUILT_IN_WORDS.get(word, word)


def _time(value: Any, field: str) -> Any:
    """Snipe-IT dates come as {"datetime": "...", "formatted": "..."} or {"date": ...}."""
    if isinstance(value, dict):
        value = value.get("datetime") or value.get("date")
    return parse_time(value, field)


def _custom(asset: dict[str, Any], name: str, options: AdapterOptions) -> Any:
    """A custom field by its configured column, else ``_snipeit_<name>`` with or without the
    ``_<field id>`` suffix Snipe-IT always adds, matched on the column or the label."""
    fields = as_object(asset.get("custom_fields"), "asset.custom_fields")
    configured = options.settings.custom_fields.get(name)
    pattern = re.compile(rf"^_snipeit_{re.escape(name)}(_\d+)?$")
    for label, entry in fields.items():
        if not isinstance(entry, dict):
            continue
        column = display(entry.get("field"), f"asset.custom_fields.{label}.field") or ""
        if configured is not None:
            hit = configured in (column, label)
        else:
            hit = bool(pattern.match(column) or pattern.match(label))
        if hit:
            return entry.get("value")
    return None


def _status_change(activity: dict[str, Any]) -> tuple[str, str] | None:
    """(old, new) status label names from the activity's ``log_meta``, if it changed."""
    meta = as_object(activity.get("log_meta"), "activity.log_meta")
    for key, change in meta.items():
        if key.strip().lower() not in _STATUS_KEYS or not isinstance(change, dict):
            continue
        old = display(change.get("old"), f"activity.log_meta.{key}.old") or ""
        new = display(change.get("new"), f"activity.log_meta.{key}.new") or ""
        old, new = _ID_PREFIX.sub("", old).strip(), _ID_PREFIX.sub("", new).strip()
        if old.lower() != new.lower():
            return old, new
    return None


def map_entry(
    tenant_id: str, entry: dict[str, Any], options: AdapterOptions | None = None
) -> Mapping:
    options = options or AdapterOptions()
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
        raw_kind = display(m.get("asset_maintenance_type"), "maintenance.asset_maintenance_type")
        kind = _word(raw_kind, options)
        if kind not in ("repair", "upgrade"):
            out.unmapped.append(
                f"maintenance of type {raw_kind or '(none)'!r} is no repair or upgrade"
            )
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
    raw_action = display(activity.get("action_type"), "activity.action_type")
    action = _word(raw_action, options)
    when = _time(activity.get("action_date") or activity.get("created_at"), "activity.created_at")
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
                    display(asset.get("category"), "asset.category"),
                    "asset.category",
                    options.settings,
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
    elif action in ("update", "checkin from", "checkin"):
        _status_event(out, asset, activity, raw_action or action, when, change, emit, options)
    else:
        out.unmapped.append(f"activity {raw_action!r} has no mapping")
    return out


def _status_event(
    out: Mapping,
    asset: dict[str, Any],
    activity: dict[str, Any],
    action: str,
    when: Any,
    change: str,
    emit: Any,
    options: AdapterOptions,
) -> None:
    """Only a status change is a lifecycle fact: an edit of an asset already Sold is none."""
    moved = _status_change(activity)
    if moved is None:
        if "log_meta" not in activity and action in ("update", "uppdatera"):
            label = display(
                as_object(asset.get("status_label"), "asset.status_label"), "asset.status_label"
            )
            if label and _word(label, options) in (*ARCHIVED_TAKE_BACK, RECYCLED):
                out.signal(
                    f"{action} of an asset in status {label!r} without log_meta: a status "
                    "change cannot be told from an edit; send the activity with its log_meta"
                )
                return
        out.unmapped.append(f"{action} without a status change is no lifecycle fact")
        return
    old, new = moved
    target = _word(new, options)
    if target in ARCHIVED_TAKE_BACK:
        emit(
            "taken_back",
            when,
            change,
            {
                "counterparty": display(asset.get("supplier"), "asset.supplier")
                or required(asset, "supplier", "asset."),
                "channel": ARCHIVED_TAKE_BACK[target],
            },
        )
    elif target == RECYCLED:
        inside = _custom(asset, "inside_eu_eea", options)
        if inside in (None, ""):
            out.signal("Recycled without the inside_eu_eea custom field: never assumed")
        else:
            emit(
                "recycled",
                when,
                change,
                {
                    "recycler": display(asset.get("supplier"), "asset.supplier") or "unknown",
                    "inside_eu_eea": parse_bool(inside, "asset.custom_fields.inside_eu_eea"),
                },
            )
    else:
        out.signal(f"status {old!r} -> {new!r} has no lifecycle event (kept for review)")


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
