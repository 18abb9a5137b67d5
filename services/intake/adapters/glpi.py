"""GLPI 11 webhooks (items in API v2 shape) -> events.

GLPI 11 sends one webhook per item type and event; its default body is ``{"item", "event"}``
(``src/Webhook.php``: a payload template sees only ``item``, ``event`` and ``parent_item``).
So the webhook's URL names the item type: ``.../adapters/glpi?itemtype=Computer`` (one
webhook per type); an ``itemtype`` in the body, where a relay adds one, wins.

| GLPI | event |
|---|---|
| ``new`` Computer / Monitor / Phone with ``infocom.supplier`` | purchased (``type`` or item type -> category, ``manufacturer``, ``model``, ``infocom.supplier``, ``infocom.date_buy``) |
| ``new`` without financial data | not mapped, kept as a signal: GLPI's webhook carries no Infocom; the supplier is never guessed |
| ``update``, ``previous`` status In repair -> In use | repaired |
| ``update``, status In use, group changed from a previous group | redeployed, to the new group |
| ``update``, status changed to Sold / Donated / Returned to supplier | taken_back (resale / donation / refurbishment) |
| ``update``, status changed to Recycled, with ``infocom.inside_eu_eea`` | recycled |
| ``update`` with such a status but no ``previous`` | not mapped, kept as a signal (see below) |
| ``delete``, other changes | not mapped: reported with the reason |

What GLPI cannot send and a relay must add: ``previous`` (the status and group before the
change: GLPI's webhook has no "before"), the purchase's Infocom (supplier, ``date_buy``, value:
from the API v2 ``/Assets/{type}/{id}/Infocom``), and whether recycling happened inside the
EU/EEA (``infocom.inside_eu_eea``, from the recycler's certificate). Without them the change is
reported, never invented. ``group`` is GLPI 11's list of ``{id, name}``: the names become the
org unit. Status and category names are matched case-insensitively, through the tenant's
``words`` and ``categories`` settings first.
"""

from __future__ import annotations

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
)

VENDOR = "glpi"
ITEMTYPE_CATEGORY = {"monitor": "monitor", "phone": "smartphone"}
TAKE_BACK = {"sold": "resale", "donated": "donation", "returned to supplier": "refurbishment"}
TRACKED = ("computer", "monitor", "phone")


def _group(value: Any, field: str) -> str | None:
    """GLPI 11 sends ``group`` as a list of ``{id, name}``; older versions one object or a
    name. Several groups are kept as their names joined, in the order GLPI lists them."""
    if isinstance(value, list):
        names = [display(g, f"{field}[{i}]") for i, g in enumerate(value)]
        joined = ", ".join(n for n in names if n)
        return joined or None
    return display(value, field)


def map_webhook(
    tenant_id: str, hook: dict[str, Any], options: AdapterOptions | None = None
) -> Mapping:
    options = options or AdapterOptions()
    event = (display(required(hook, "event"), "event") or "").lower()
    itemtype = (display(hook.get("itemtype"), "itemtype") or options.itemtype or "").lower()
    if not itemtype:
        raise AdapterInputError(
            "itemtype",
            "is required: GLPI's webhook does not send it; add ?itemtype=Computer to the "
            "webhook's URL (one webhook per item type)",
        )
    item = as_object(hook.get("item"), "item", required=True)
    previous = as_object(hook.get("previous"), "previous")
    asset_id = (
        display(item.get("serial"), "item.serial")
        or f"{itemtype}-{display(required(item, 'id', 'item.'), 'item.id')}"
    )
    when = parse_time(item.get("date_mod") or item.get("date_creation"), "item.date_mod")
    out = Mapping(VENDOR, tenant_id, asset_id)

    def emit(kind: str, payload: dict[str, Any], at: Any = None) -> None:
        out.emit(kind, payload, at=at or when, change_id=f"{event}@{when.isoformat()}")

    def word(value: Any, field: str) -> str:
        return options.settings.word(display(value, field) or "")

    status = word(item.get("status"), "item.status")
    before = word(previous.get("status"), "previous.status")
    infocom = as_object(item.get("infocom"), "item.infocom")
    if event == "new":
        if itemtype not in TRACKED:
            out.unmapped.append(f"new {itemtype!r} is not a tracked device type")
            return out
        supplier = display(infocom.get("supplier"), "item.infocom.supplier")
        if not supplier:
            out.signal(
                "new item without infocom.supplier: GLPI's webhook carries no financial data; "
                "a relay must add the Infocom (supplier, date_buy), the supplier is never guessed"
            )
            return out
        category = ITEMTYPE_CATEGORY.get(itemtype) or category_of(
            display(item.get("type"), "item.type"), "item.type", options.settings
        )
        bought = infocom.get("date_buy") or infocom.get("buy_date")
        emit(
            "purchased",
            {
                "category": category,
                "manufacturer": display(item.get("manufacturer"), "item.manufacturer")
                or required(item, "manufacturer", "item."),
                "model": display(item.get("model"), "item.model")
                or required(item, "model", "item."),
                "serial": display(item.get("serial"), "item.serial"),
                "supplier": supplier,
                "price": money(infocom.get("value"), infocom.get("currency")),
                "warranty_months": infocom.get("warranty_duration"),
                "org_unit": _group(item.get("group"), "item.group"),
            },
            at=parse_time(bought, "item.infocom.date_buy") if bought else None,
        )
    elif event == "update":
        _update(out, item, previous, status, before, infocom, emit)
    elif event == "delete":
        out.unmapped.append("deleting an item is no lifecycle fact; set a status like Recycled")
    else:
        out.unmapped.append(f"webhook event {event!r} has no mapping")
    return out


def _update(
    out: Mapping,
    item: dict[str, Any],
    previous: dict[str, Any],
    status: str,
    before: str,
    infocom: dict[str, Any],
    emit: Any,
) -> None:
    relevant = status in TAKE_BACK or status == "recycled"
    if not previous:
        if relevant:
            out.signal(
                f"update with status {status!r} but no previous status: GLPI's webhook has no "
                "'before', so a status change cannot be told from an edit; a relay must add "
                "`previous`"
            )
        else:
            out.unmapped.append("update without `previous`: no status change can be told")
        return
    group = _group(item.get("group"), "item.group")
    old_group = _group(previous.get("group"), "previous.group")
    if status in TAKE_BACK and before != status:
        emit(
            "taken_back",
            {
                "counterparty": display(infocom.get("supplier"), "item.infocom.supplier")
                or required(infocom, "supplier", "item.infocom."),
                "channel": TAKE_BACK[status],
            },
        )
    elif status == "recycled" and before != status:
        inside = infocom.get("inside_eu_eea")
        if inside in (None, ""):
            out.signal("Recycled without infocom.inside_eu_eea: never assumed")
        else:
            emit(
                "recycled",
                {
                    "recycler": display(infocom.get("supplier"), "item.infocom.supplier")
                    or "unknown",
                    "inside_eu_eea": parse_bool(inside, "item.infocom.inside_eu_eea"),
                },
            )
    elif before == "in repair" and status == "in use":
        emit("repaired", {"kind": "repair"})
    elif status == "in use" and group and old_group and group != old_group:
        emit("redeployed", {"to_org_unit": group})
    elif before != status:
        out.signal(f"status {before or '?'} -> {status or '?'} has no lifecycle event")
    else:
        out.unmapped.append(f"update {before or '?'} -> {status or '?'} has no mapping")
