"""ServiceNow Hardware Asset Management: ``alm_hardware`` record changes -> events.

Input: one change as a Business Rule, Flow or Stream Connect publishes it, with the record
before and after (field names as in the ``alm_hardware`` table)::

    {"sys_id": "...", "previous": {...} | null, "current": {...}}

All three Table API record shapes are read (``sysparm_display_value``):
- ``false`` (default): choice fields as codes (``install_status`` "7", ``substatus``
  "disposed"), references as ``{"link", "value": sys_id}``, dates in UTC;
- ``true``: choice fields as labels ("Retired", "Pending disposal"), references as names;
- ``all``: every field as ``{"display_value", "value"}``: codes, sys_ids and UTC dates are
  taken from ``value``, names from ``display_value``.

``install_status``: 1 In use, 2 On order, 3 In maintenance, 6 In stock, 7 Retired, 8 Missing,
9 In transit. Mapping (previous -> current):

| transition | event |
|---|---|
| new, On order or In transit -> In use / In stock | purchased (1) |
| In maintenance -> In use / In stock | repaired |
| In use / In stock -> In use with another ``department`` than before (2) | redeployed |
| -> Retired, or a substate change inside Retired, to ``sold`` / ``donated`` | taken_back, resale / donation (3) |
| ... to ``vendor_credit`` (returned to the vendor for credit) | taken_back, refurbishment, counterparty the vendor |
| ... to ``lease_return`` | taken_back, refurbishment |
| ... to ``disposed`` with a certificate of recycling and ``u_inside_eu_eea`` | recycled |
| ... to ``disposed`` without them; ``pending_disposal``; -> Missing | not mapped, kept as a lifecycle signal |

(1) category from ``model_category`` by name, or by sys_id through the tenant's settings;
"Computer" (laptops and desktops alike) is never guessed. Supplier ``vendor``, date
``purchase_date``.
(2) the first assignment after purchase (no department before) is the deployment, not a
re-use: ``redeployed`` means a new org unit after a first one, in every adapter.
(3) the counterparty is ``beneficiary`` (who received a sold or donated device), else
``u_disposal_vendor`` (the disposal order's vendor), else ``vendor``.

"Disposed" is not "recycled": the EU waste hierarchy keeps disposal apart from recycling, so
only a disposal documented by a recycling certificate (``u_certificate``) with the EU/EEA
flag becomes ``recycled``; anything else is reported, never assumed.
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
STATUS_CODES = {name.lower(): code for code, name in STATUS_NAMES.items()}
RETIRED_TAKE_BACK = {
    "sold": "resale",
    "donated": "donation",
    "vendor_credit": "refurbishment",
    "lease_return": "refurbishment",
}
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


def _code(value: Any, field: str) -> str | None:
    """A choice field in any of the three shapes: the code if there is one, else the label."""
    if isinstance(value, dict):
        inner = value.get("value") if value.get("value") not in (None, "") else None
        return display(inner, f"{field}.value") if inner is not None else display(value, field)
    return display(value, field)


def _status(record: dict[str, Any] | None, where: str) -> str | None:
    if record is None:
        return None
    raw = _code(record.get("install_status"), f"{where}.install_status")
    if raw is None:
        return None
    return STATUS_CODES.get(raw.strip().lower(), raw.strip())


def _substate(record: dict[str, Any] | None, where: str) -> str:
    if record is None:
        return ""
    raw = _code(record.get("substatus"), f"{where}.substatus") or ""
    return raw.strip().lower().replace(" ", "_")


def _name(status: str | None) -> str:
    return STATUS_NAMES.get(status or "", f"install_status {status!r}") if status else "(new)"


def _category(current: dict[str, Any], options: AdapterOptions) -> str:
    """By name where the record carries one; by sys_id through the tenant's settings."""
    raw = current.get("model_category")
    field = "current.model_category"
    name = None
    sys_id = None
    if isinstance(raw, dict):
        name = display(raw.get("display_value"), f"{field}.display_value")
        sys_id = display(raw.get("value"), f"{field}.value")
    else:
        text = display(raw, field)
        if text and _SYS_ID.match(text):
            sys_id = text
        else:
            name = text
    if sys_id and options.settings.category(sys_id):
        return category_of(sys_id, field, options.settings)
    if name and not _SYS_ID.match(name):
        return category_of(name, field, options.settings)
    if sys_id:
        raise AdapterInputError(
            field,
            f"is the sys_id {sys_id} without a name: fetch with sysparm_display_value=all, or "
            f"map it (kretslopp adapters settings TENANT servicenow --category {sys_id}=laptop)",
        )
    return category_of(None, field)


def map_change(
    tenant_id: str, change: dict[str, Any], options: AdapterOptions | None = None
) -> Mapping:
    options = options or AdapterOptions()
    current = as_object(change.get("current"), "current", required=True)
    previous = as_object(change.get("previous"), "previous") or None
    sys_id = display(change.get("sys_id"), "sys_id") or _code(
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
    old_sub, new_sub = _substate(previous, "previous"), _substate(current, "current")
    if before in (None, ON_ORDER, IN_TRANSIT) and after in (IN_USE, IN_STOCK):
        bought = current.get("purchase_date")
        emit(
            "purchased",
            {
                "category": _category(current, options),
                "manufacturer": display(current.get("manufacturer"), "current.manufacturer")
                or required(current, "manufacturer", "current."),
                "model": display(current.get("model"), "current.model")
                or required(current, "model", "current."),
                "serial": display(current.get("serial_number"), "current.serial_number"),
                "supplier": display(current.get("vendor"), "current.vendor")
                or required(current, "vendor", "current."),
                "price": money(
                    _code(current.get("cost"), "current.cost"),
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
        old = display((previous or {}).get("department"), "previous.department")
        new = display(current.get("department"), "current.department")
        if new and old and new != old:
            emit("redeployed", {"to_org_unit": new})
        elif new and not old and before == IN_STOCK:
            out.unmapped.append(
                f"{transition} to {new!r} with no department before is the deployment after "
                "purchase, not a re-use"
            )
        else:
            out.unmapped.append(f"{transition} without a change of department is no lifecycle fact")
    elif after == RETIRED and (before != RETIRED or old_sub != new_sub):
        _retired(out, current, new_sub, transition, emit)
    elif before != after:
        out.signal(f"{transition} has no lifecycle event (state change kept for review)")
    else:
        out.unmapped.append(f"{transition} without a state or substate change")
    return out


def _retired(
    out: Mapping, current: dict[str, Any], substate: str, transition: str, emit: Any
) -> None:
    where = f"{transition} ({substate or 'no substate'})"
    beneficiary = display(current.get("beneficiary"), "current.beneficiary")
    disposal_vendor = display(current.get("u_disposal_vendor"), "current.u_disposal_vendor")
    vendor = display(current.get("vendor"), "current.vendor")
    certificate = display(current.get("u_certificate"), "current.u_certificate")
    if substate in RETIRED_TAKE_BACK:
        if substate in ("sold", "donated"):
            counterparty = beneficiary or disposal_vendor or vendor
        else:  # vendor credit and lease return go back to the vendor
            counterparty = disposal_vendor or vendor
        if not counterparty:
            raise AdapterInputError(
                "current.beneficiary", "or u_disposal_vendor or vendor is required for a take-back"
            )
        emit(
            "taken_back",
            {
                "counterparty": counterparty,
                "channel": RETIRED_TAKE_BACK[substate],
                "certificate_reference": certificate,
            },
        )
    elif substate == "disposed":
        inside = current.get("u_inside_eu_eea")
        if not certificate:
            out.signal(
                f"{where}: a disposal without a certificate of recycling is not counted as "
                "recycling (the EU waste hierarchy keeps them apart); add u_certificate"
            )
        elif inside in (None, ""):
            out.signal(
                f"{where}: recycling certificate {certificate} without u_inside_eu_eea; "
                "whether recycling happened inside the EU/EEA is never assumed"
            )
        else:
            recycler = disposal_vendor or vendor
            if not recycler:
                raise AdapterInputError("current.u_disposal_vendor", "is required")
            emit(
                "recycled",
                {
                    "recycler": recycler,
                    "inside_eu_eea": parse_bool(inside, "current.u_inside_eu_eea"),
                    "certificate_reference": certificate,
                },
            )
    elif substate == "pending_disposal":
        out.signal(f"{where}: not a lifecycle fact yet; the disposal will be")
    else:
        out.signal(f"{where} has no mapping")
