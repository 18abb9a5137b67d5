"""GLPI 11 webhooks (items in API v2 shape) -> events.

GLPI 11 sends one webhook per item type and event (``new``, ``update``, ``delete``). Configure
the payload template to include the item and, for updates, its previous status and group::

    {"event": "update", "itemtype": "Computer", "item": {...}, "previous": {"status": ..., "group": ...}}

| GLPI | event |
|---|---|
| ``new`` Computer / Monitor / Phone | purchased (``type`` or item type -> category, ``manufacturer``, ``model``, ``infocom.supplier``, ``infocom.buy_date``) |
| ``update``: status In repair -> In use | repaired |
| ``update``: group changed, status In use | redeployed, to the new group |
| ``update``: status Sold / Donated / Returned to supplier | taken_back (resale / donation / refurbishment) |
| ``update``: status Recycled | recycled (needs ``infocom.inside_eu_eea``) |
| ``delete``, other changes | not mapped: reported with the reason |

Status names are matched case-insensitively; a site with other names maps them in its template.
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
)

VENDOR = "glpi"
ITEMTYPE_CATEGORY = {"monitor": "monitor", "phone": "smartphone"}
TAKE_BACK = {"sold": "resale", "donated": "donation", "returned to supplier": "refurbishment"}


def _group(value: Any, field: str) -> str | None:
    """GLPI 11 sends ``group`` as a list of ``{id, name}``; older versions one object or a
    name. Several groups are kept as their names joined, in the order GLPI lists them."""
    if isinstance(value, list):
        names = [display(g, f"{field}[{i}]") for i, g in enumerate(value)]
        joined = ", ".join(n for n in names if n)
        return joined or None
    return display(value, field)


def map_webhook(tenant_id: str, hook: dict[str, Any]) -> Mapping:
    event = (display(required(hook, "event"), "event") or "").lower()
    itemtype = (display(required(hook, "itemtype"), "itemtype") or "").lower()
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

    status = (display(item.get("status"), "item.status") or "").lower()
    before = (display(previous.get("status"), "previous.status") or "").lower()
    infocom = as_object(item.get("infocom"), "item.infocom")
    if event == "new":
        if itemtype not in ("computer", "monitor", "phone"):
            out.unmapped.append(f"new {itemtype!r} is not a tracked device type")
            return out
        category = ITEMTYPE_CATEGORY.get(itemtype) or category_of(
            display(item.get("type"), "item.type"), "item.type"
        )
        emit(
            "purchased",
            {
                "category": category,
                "manufacturer": display(item.get("manufacturer"), "item.manufacturer")
                or required(item, "manufacturer", "item."),
                "model": display(item.get("model"), "item.model")
                or required(item, "model", "item."),
                "serial": display(item.get("serial"), "item.serial"),
                "supplier": display(infocom.get("supplier"), "item.infocom.supplier")
                or required(infocom, "supplier", "item.infocom."),
                "price": money(infocom.get("value"), infocom.get("currency")),
                "warranty_months": infocom.get("warranty_duration"),
                "org_unit": _group(item.get("group"), "item.group"),
            },
            at=parse_time(infocom["buy_date"], "item.infocom.buy_date")
            if infocom.get("buy_date")
            else None,
        )
    elif event == "update":
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
            if inside is None:
                out.unmapped.append("Recycled without infocom.inside_eu_eea: never assumed")
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
        elif not previous:
            raise AdapterInputError("previous", "is required for updates (status and group before)")
        else:
            out.unmapped.append(f"update {before or '?'} -> {status or '?'} has no mapping")
    elif event == "delete":
        out.unmapped.append("deleting an item is no lifecycle fact; set a status like Recycled")
    else:
        out.unmapped.append(f"webhook event {event!r} has no mapping")
    return out
