"""ServiceNow Hardware Asset Management: ``alm_hardware`` record changes -> events.

Input: one change as a Business Rule, Flow or Stream Connect publishes it, with the record
before and after (field names as in the ``alm_hardware`` table; reference fields as
``{"display_value": ...}`` or plain text; ``sys_updated_on`` in UTC as the REST API returns it)::

    {"sys_id": "...", "previous": {...} | null, "current": {...}}

``install_status`` values: 1 In use, 2 On order, 3 In maintenance, 6 In stock, 7 Retired,
8 Missing, 9 In transit. Mapping (previous -> current):

| transition | event |
|---|---|
| new, On order or In transit -> In use / In stock | purchased (1) |
| In maintenance -> In use / In stock | repaired |
| In use -> In use with another ``department`` | redeployed (to the new department) |
| In stock -> In use with another ``department`` than before | redeployed |
| any -> Retired, substate ``sold`` | taken_back, channel resale |
| any -> Retired, substate ``donated`` | taken_back, channel donation |
| any -> Retired, substate ``vendor_credit`` | taken_back, channel resale (vendor buys back) |
| any -> Retired, substate ``lease_return`` | taken_back, channel refurbishment |
| any -> Retired, substate ``disposed`` | recycled (2) |
| -> Retired ``pending_disposal``, -> Missing, else | not mapped: reported with the reason |

(1) category from ``model_category``, supplier ``vendor``, date ``purchase_date``.
(2) needs ``u_inside_eu_eea`` from the disposal order's certificate; never assumed.
Take-backs name the counterparty from ``u_disposal_vendor`` (the disposal order's vendor),
else ``vendor``; a recycling names the recycler the same way.
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

VENDOR = "servicenow"
IN_USE, ON_ORDER, IN_MAINTENANCE, IN_STOCK, RETIRED, MISSING, IN_TRANSIT = (
    "1",
    "2",
    "3",
    "6",
    "7",
    "8",
    "9",
)
STATUS_NAMES = {
    IN_USE: "In use",
    ON_ORDER: "On order",
    IN_MAINTENANCE: "In maintenance",
    IN_STOCK: "In stock",
    RETIRED: "Retired",
    MISSING: "Missing",
    IN_TRANSIT: "In transit",
}
RETIRED_TAKE_BACK = {
    "sold": "resale",
    "donated": "donation",
    "vendor_credit": "resale",
    "lease_return": "refurbishment",
}


def _status(record: dict[str, Any] | None, where: str) -> str | None:
    if record is None:
        return None
    return display(record.get("install_status"), f"{where}.install_status")


def _name(status: str | None) -> str:
    return STATUS_NAMES.get(status or "", f"install_status {status!r}") if status else "(new)"


def map_change(tenant_id: str, change: dict[str, Any]) -> Mapping:
    current = required(change, "current")
    if not isinstance(current, dict):
        raise AdapterInputError("current", "must be an object (the alm_hardware record)")
    previous = as_object(change.get("previous"), "previous") or None
    sys_id = display(change.get("sys_id"), "sys_id") or display(
        required(current, "sys_id", "current."), "current.sys_id"
    )
    assert sys_id is not None
    asset_id = (
        display(current.get("serial_number"), "current.serial_number")
        or display(current.get("asset_tag"), "current.asset_tag")
        or sys_id
    )
    when = parse_time(current.get("sys_updated_on"), "current.sys_updated_on")
    before, after = _status(previous, "previous"), _status(current, "current")
    if after is None:
        raise AdapterInputError("current.install_status", "is required")
    out = Mapping(VENDOR, tenant_id, asset_id)

    def emit(kind: str, payload: dict[str, Any], at: Any = None) -> None:
        out.emit(kind, payload, at=at or when, change_id=f"{sys_id}@{when.isoformat()}")

    transition = f"{_name(before)} -> {_name(after)}"
    if before in (None, ON_ORDER, IN_TRANSIT) and after in (IN_USE, IN_STOCK):
        bought = current.get("purchase_date")
        emit(
            "purchased",
            {
                "category": category_of(
                    display(current.get("model_category"), "current.model_category"),
                    "current.model_category",
                ),
                "manufacturer": display(current.get("manufacturer"), "current.manufacturer")
                or required(current, "manufacturer", "current."),
                "model": display(current.get("model"), "current.model")
                or required(current, "model", "current."),
                "serial": display(current.get("serial_number"), "current.serial_number"),
                "supplier": display(current.get("vendor"), "current.vendor")
                or required(current, "vendor", "current."),
                "price": money(
                    current.get("cost"),
                    display(current.get("cost_currency"), "current.cost_currency"),
                ),
                "warranty_months": None,
                "org_unit": display(current.get("department"), "current.department"),
            },
            at=parse_time(bought, "current.purchase_date") if bought else None,
        )
    elif before == IN_MAINTENANCE and after in (IN_USE, IN_STOCK):
        emit("repaired", {"kind": "repair"})
    elif after == IN_USE and before in (IN_USE, IN_STOCK):
        old, new = (
            display((previous or {}).get("department"), "previous.department"),
            display(current.get("department"), "current.department"),
        )
        if new and new != old:
            emit("redeployed", {"to_org_unit": new})
        else:
            out.unmapped.append(f"{transition} without a change of department is no lifecycle fact")
    elif after == RETIRED and before != RETIRED:
        substate = (
            (display(current.get("substatus"), "current.substatus") or "").lower().replace(" ", "_")
        )
        counterparty = display(
            current.get("u_disposal_vendor"), "current.u_disposal_vendor"
        ) or display(current.get("vendor"), "current.vendor")
        if substate in RETIRED_TAKE_BACK:
            if not counterparty:
                raise AdapterInputError("current.u_disposal_vendor", "is required for a take-back")
            emit(
                "taken_back",
                {
                    "counterparty": counterparty,
                    "channel": RETIRED_TAKE_BACK[substate],
                    "certificate_reference": display(
                        current.get("u_certificate"), "current.u_certificate"
                    ),
                },
            )
        elif substate == "disposed":
            inside = current.get("u_inside_eu_eea")
            if inside in (None, ""):
                out.unmapped.append(
                    "Retired/disposed without u_inside_eu_eea: take it from the certificate of "
                    "disposal; whether recycling happened inside the EU/EEA is never assumed"
                )
            else:
                if not counterparty:
                    raise AdapterInputError("current.u_disposal_vendor", "is required")
                emit(
                    "recycled",
                    {
                        "recycler": counterparty,
                        "inside_eu_eea": parse_bool(inside, "current.u_inside_eu_eea"),
                        "certificate_reference": display(
                            current.get("u_certificate"), "current.u_certificate"
                        ),
                    },
                )
        elif substate == "pending_disposal":
            out.unmapped.append(
                "Retired/pending_disposal is not a lifecycle fact yet; the disposal will be"
            )
        else:
            out.unmapped.append(f"{transition} with substatus {substate!r} has no mapping")
    else:
        out.unmapped.append(f"{transition} has no mapping")
    return out
