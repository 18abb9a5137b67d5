"""What every adapter returns, and helpers they share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.models import CURRENT_SCHEMA_VERSION, Category

NAMESPACE = uuid.UUID("8f0b7d9e-6a52-4c1e-9f6d-6b7265746164")


class AdapterInputError(ValueError):
    """The payload is not what the tool documents: a field is missing or malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AdapterSettings(BaseModel):
    """One tenant's configuration of one adapter (``kretslopp adapters settings``).

    Tools name categories, custom fields and activity types in the customer's own words and
    language; these maps say what they mean. Looked up case-insensitively."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: dict[str, Category] = Field(
        default_factory=dict,
        description="The tool's category name (or ServiceNow model_category sys_id) -> category.",
    )
    custom_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Our field (inside_eu_eea) -> the tool's column or label, e.g. "
        "_snipeit_eu_eea_12.",
    )
    words: dict[str, str] = Field(
        default_factory=dict,
        description="A translated action, maintenance or status word -> its English one, "
        "e.g. 'Reparera' -> 'repair'.",
    )

    def category(self, name: str) -> str | None:
        wanted = name.strip().lower()
        for key, value in self.categories.items():
            if key.strip().lower() == wanted:
                return value.value
        return None

    def word(self, text: str) -> str:
        wanted = text.strip().lower()
        for key, value in self.words.items():
            if key.strip().lower() == wanted:
                return value.strip().lower()
        return wanted


@dataclass(frozen=True)
class AdapterOptions:
    """What an adapter knows besides the payload: the tenant's settings and, for tools whose
    webhook does not say it (GLPI), the item type configured on the webhook's URL."""

    settings: AdapterSettings = field(default_factory=lambda: AdapterSettings())
    itemtype: str | None = None


@dataclass
class Mapping:
    """Canonical event objects (still to be validated) and the changes that map to none.

    ``signals`` are the unmapped changes that carry a lifecycle signal (a status or substate
    change the table could not turn into an event): the gateway keeps them where an operator
    sees them (``kretslopp adapters unmapped``, status), so no fact is lost silently."""

    vendor: str
    tenant_id: str
    asset_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)

    def signal(self, reason: str) -> None:
        self.unmapped.append(reason)
        self.signals.append(reason)

    def emit(self, kind: str, payload: dict[str, Any], *, at: datetime, change_id: str) -> None:
        self.events.append(
            event_object(
                vendor=self.vendor,
                tenant_id=self.tenant_id,
                asset_id=self.asset_id,
                kind=kind,
                occurred_at=at,
                change_id=change_id,
                payload=payload,
            )
        )


def event_object(
    *,
    vendor: str,
    tenant_id: str,
    asset_id: str,
    kind: str,
    occurred_at: datetime,
    change_id: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """A canonical event whose id is derived from the tool's change, so a webhook delivered
    twice yields the same event_id."""
    name = "\x00".join((vendor, tenant_id, asset_id, change_id, kind))
    event_id = uuid.uuid5(NAMESPACE, name)
    return {
        "event_id": str(event_id),
        "event_type": kind,
        "schema_version": CURRENT_SCHEMA_VERSION,
        "tenant_id": tenant_id,
        "asset_id": asset_id,
        "occurred_at": occurred_at.isoformat(),
        "source": vendor,
        "payload": {k: v for k, v in payload.items() if v is not None},
    }


def required(obj: dict[str, Any], name: str, where: str = "") -> Any:
    value = obj.get(name)
    if value is None or value == "":
        raise AdapterInputError(f"{where}{name}", "is required")
    return value


def as_object(value: Any, field: str, *, required: bool = False) -> dict[str, Any]:
    """A JSON object; ``{}`` when absent (unless required). Anything else is refused naming
    the field: a string or list where the tool sends an object was a 500 before (issue #12)."""
    if value is None:
        if required:
            raise AdapterInputError(field, "is required (an object)")
        return {}
    if not isinstance(value, dict):
        raise AdapterInputError(field, f"must be an object, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _scalar_text(value: Any, field: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise AdapterInputError(field or "(value)", f"must be text, not {_json_type(value)}")
    text = str(value)
    return text if text.strip() else None


def display(value: Any, field: str = "") -> str | None:
    """ServiceNow/GLPI reference fields come as {"display_value": ...} / {"name": ...} or text.

    Only text or a number becomes text: a nested object or array is refused naming the field
    (it used to become its Python repr, e.g. the org unit ``"{'a': 1}"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        for key in ("display_value", "name", "value"):
            if value.get(key) not in (None, ""):
                return _scalar_text(value[key], f"{field}.{key}" if field else key)
        return None
    return _scalar_text(value, field)


TRUE_WORDS = frozenset({"true", "1", "yes", "y", "ja", "j", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "nej", "off"})


def parse_bool(value: Any, field: str) -> bool:
    """One reading of a yes/no field for every adapter: JSON booleans, 0/1, and the words
    true/false, yes/no, ja/nej in any case. Anything else is refused, never guessed (GLPI's
    ``"false"`` was stored as true before)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, dict):
        return parse_bool(display(value, field), field)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise AdapterInputError(field, f"{value!r} is not a yes/no value (true/false, 1/0, yes/no)")


def whole_number(value: Any, field: str) -> int | None:
    """A count such as Snipe-IT's ``checkout_counter``: an integer or its digits; None when
    absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise AdapterInputError(field, "must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise AdapterInputError(field, f"{value!r} is not a whole number")


def parse_time(raw: Any, field: str) -> datetime:
    """ISO 8601, or the 'YYYY-MM-DD HH:MM:SS' the tools use for UTC timestamps in their APIs.

    A ServiceNow ``{"display_value", "value"}`` pair gives its ``value``: the display value is
    in the API user's time zone and format, the value in UTC."""
    if isinstance(raw, dict):
        raw = raw.get("value") if raw.get("value") not in (None, "") else raw.get("display_value")
    if not isinstance(raw, str) or not raw:
        raise AdapterInputError(field, "is required (a timestamp)")
    text = raw.strip().replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AdapterInputError(field, f"{raw!r} is not a timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Category names as the tools ship them: ServiceNow model categories, Snipe-IT's seeded
# (plural) categories, GLPI item types. "Computer" is not here: in ServiceNow it covers
# laptops and desktops alike, so it is never guessed (configure the tenant's names).
CATEGORY_WORDS: dict[str, str] = {
    "laptop": "laptop",
    "laptops": "laptop",
    "notebook": "laptop",
    "notebooks": "laptop",
    "desktop": "desktop",
    "desktops": "desktop",
    "workstation": "desktop",
    "workstations": "desktop",
    "monitor": "monitor",
    "monitors": "monitor",
    "display": "monitor",
    "displays": "monitor",
    "mobile phone": "smartphone",
    "mobile phones": "smartphone",
    "mobile device": "smartphone",
    "smartphone": "smartphone",
    "smartphones": "smartphone",
    "phone": "smartphone",
    "tablet": "tablet",
    "tablets": "tablet",
    "server": "server",
    "servers": "server",
}
AMBIGUOUS_CATEGORIES = {"computer", "computers", "personal computer", "pc", "hardware"}


def category_of(name: str | None, field: str, settings: AdapterSettings | None = None) -> str:
    if not name:
        raise AdapterInputError(field, "is required to know the device category")
    configured = settings.category(name) if settings is not None else None
    if configured is not None:
        return configured
    word = name.strip().lower()
    if word in AMBIGUOUS_CATEGORIES:
        raise AdapterInputError(
            field,
            f"{name!r} covers several device categories and is not guessed: configure it "
            "(kretslopp adapters settings TENANT TOOL --category NAME=laptop)",
        )
    found = CATEGORY_WORDS.get(word)
    if found is None:
        raise AdapterInputError(
            field,
            f"{name!r} is not a known category: configure it (kretslopp adapters settings "
            "TENANT TOOL --category NAME=CATEGORY) or use one of "
            f"{', '.join(sorted(set(CATEGORY_WORDS.values())))}",
        )
    return found


def money(amount: Any, currency: Any) -> dict[str, Any] | None:
    """A price only when both amount and currency are known (a currency is never assumed)."""
    if amount in (None, "") or not currency:
        return None
    if isinstance(amount, (dict, list, bool)):
        raise AdapterInputError("cost", f"must be a number, not {_json_type(amount)}")
    try:
        value = float(str(amount).replace(",", ""))
    except ValueError:
        raise AdapterInputError("cost", f"{amount!r} is not a number") from None
    code = display(currency, "currency")
    return {"amount": value, "currency": code.upper()} if code else None
