"""Asset-register rows (CSV or JSON Lines export) -> canonical lifecycle events. Pure.

One row per device. Columns (header names; order free, unknown columns ignored):

| column | required | meaning |
|---|---|---|
| asset_id | yes | the asset's id in the register (or its serial number) |
| purchase_date | yes | YYYY-MM-DD or an ISO timestamp with time zone |
| category | yes | laptop, desktop, monitor, smartphone, tablet, server |
| manufacturer, model, supplier | yes | |
| serial | no | |
| condition | no | new (default) or refurbished |
| certifications | no | ``scheme[:generation[:valid_until]]``, ``;`` between them (1) |
| weight_kg, product_carbon_footprint_kg_co2e | no | numbers, ``.`` or ``,`` as decimal mark |
| price, currency | no | amount and ISO 4217 code |
| org_unit | no | |
| end_of_use_date | with disposition | when the device left the organisation |
| disposition | no | resale, refurbishment, donation, recycling (taken back) or recycled (2) |
| counterparty | for a take-back | who took it back |
| recycler, inside_eu_eea | for recycled | inside_eu_eea: yes/no |

(1) e.g. ``tco_certified:Generation 9:2025-12-31;epeat``. (2) the four take-back channels mean
"taken back through that channel"; ``recycled`` means recycled directly.

Dates without a time are taken as midnight UTC. Event ids are UUIDv5 of tenant, asset, event
type and date, so importing the same file again produces the same events and adds nothing.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import IO, Any

import orjson

from events.codec import InvalidEvent, decode_object
from events.models import CURRENT_SCHEMA_VERSION, LifecycleEvent

NAMESPACE = uuid.UUID("2d5f5a5c-1d0e-4a8e-b3f0-6b7265746c67")
TAKE_BACK_CHANNELS = ("resale", "refurbishment", "donation", "recycling")


class RegisterFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, not CSV); nothing is imported."""


class RowError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


DELIMITERS = ",;\t|"


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RegisterFileError(
            f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as "
            "UTF-8 (Excel: 'CSV UTF-8') and import it again"
        ) from None


def csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) with the header's names; the header is line 1.

    The delimiter is detected among ``, ; TAB |``; a file that is not UTF-8 or not CSV raises
    :class:`RegisterFileError` naming the line, before anything is sent."""
    text = _utf8(stream.read())
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=DELIMITERS)
    except csv.Error:  # one column, or too little text to tell: the comma is the default
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            yield (
                reader.line_num,
                {
                    (k or "").strip().lower(): (v or "").strip()
                    for k, v in row.items()
                    if isinstance(k, str) and isinstance(v, str)
                },
            )
    except csv.Error as exc:
        raise RegisterFileError(f"line {reader.line_num + 1}: not CSV: {exc}") from None


def jsonl_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, line in enumerate(stream, start=1):
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, RowError("", f"not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield number, RowError("", "each line must be a JSON object")
            continue
        yield number, {str(k).lower(): v for k, v in obj.items()}


def _text(row: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(name, "is required")
        return None
    return str(value).strip()


def _moment(row: dict[str, Any], name: str, required: bool = False) -> datetime | None:
    raw = _text(row, name, required)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise RowError(name, f"{raw!r} is not a date (YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        raise RowError(name, f"{raw!r} has a time but no time zone")
    return moment


def _number(row: dict[str, Any], name: str) -> float | None:
    raw = row.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    try:
        return float(str(raw).replace(",", ".").replace(" ", ""))
    except ValueError:
        raise RowError(name, f"{raw!r} is not a number") from None


def _certifications(raw: str | None) -> list[dict[str, Any]]:
    out = []
    for part in (raw or "").split(";"):
        if not part.strip():
            continue
        scheme, generation, valid_until = ([*part.split(":"), "", ""])[:3]
        cert: dict[str, Any] = {"scheme": scheme.strip().lower().replace(" ", "_")}
        if generation.strip():
            cert["generation"] = generation.strip()
        if valid_until.strip():
            cert["valid_until"] = valid_until.strip()
        out.append(cert)
    return out


def _yes_no(row: dict[str, Any], name: str) -> bool:
    raw = row.get(name)
    if isinstance(raw, bool):
        return raw
    value = (_text(row, name, required=True) or "").lower()
    if value in ("yes", "y", "true", "1", "ja", "j"):
        return True
    if value in ("no", "n", "false", "0", "nej"):
        return False
    raise RowError(name, f"{raw!r} is not yes/no")


def _event(
    kind: str, tenant: str, asset: str, at: datetime, source: str, payload: dict[str, Any]
) -> LifecycleEvent:
    # The instant in UTC: 2021-03-01 and 2021-03-01T01:00:00+01:00 are one purchase, one id.
    instant = at.astimezone(UTC).isoformat()
    event_id = uuid.uuid5(NAMESPACE, f"{tenant}\x00{asset}\x00{kind}\x00{instant}")
    obj = {
        "event_id": str(event_id),
        "event_type": kind,
        "schema_version": CURRENT_SCHEMA_VERSION,
        "tenant_id": tenant,
        "asset_id": asset,
        "occurred_at": at.isoformat(),
        "source": source,
        "payload": {k: v for k, v in payload.items() if v is not None},
    }
    try:
        return decode_object(obj)
    except InvalidEvent as exc:
        first = exc.errors[0]
        field = first.field.removeprefix("payload.")
        raise RowError(field, first.reason) from None


def events_for_row(tenant: str, row: dict[str, Any], source: str) -> list[LifecycleEvent]:
    asset = _text(row, "asset_id", required=True)
    bought = _moment(row, "purchase_date", required=True)
    assert asset is not None and bought is not None
    price = _number(row, "price")
    purchase: dict[str, Any] = {
        "category": (_text(row, "category", required=True) or "").lower(),
        "manufacturer": _text(row, "manufacturer", required=True),
        "model": _text(row, "model", required=True),
        "serial": _text(row, "serial"),
        "supplier": _text(row, "supplier", required=True),
        "condition": (_text(row, "condition") or "new").lower(),
        "certifications": _certifications(_text(row, "certifications")),
        "weight_kg": _number(row, "weight_kg"),
        "product_carbon_footprint_kg_co2e": _number(row, "product_carbon_footprint_kg_co2e"),
        "price": {"amount": price, "currency": (_text(row, "currency") or "").upper()}
        if price is not None
        else None,
        "org_unit": _text(row, "org_unit"),
    }
    events = [_event("purchased", tenant, asset, bought, source, purchase)]
    disposition = (_text(row, "disposition") or "").lower()
    if not disposition:
        if _text(row, "end_of_use_date"):
            raise RowError("disposition", "is required when end_of_use_date is set")
        return events
    ended = _moment(row, "end_of_use_date", required=True)
    assert ended is not None
    if ended < bought:
        raise RowError("end_of_use_date", "is before purchase_date")
    if disposition in TAKE_BACK_CHANNELS:
        events.append(
            _event(
                "taken_back",
                tenant,
                asset,
                ended,
                source,
                {"counterparty": _text(row, "counterparty", required=True), "channel": disposition},
            )
        )
    elif disposition == "recycled":
        events.append(
            _event(
                "recycled",
                tenant,
                asset,
                ended,
                source,
                {
                    "recycler": _text(row, "recycler", required=True),
                    "inside_eu_eea": _yes_no(row, "inside_eu_eea"),
                    "weight_kg": _number(row, "weight_kg"),
                },
            )
        )
    else:
        raise RowError(
            "disposition",
            f"{disposition!r} is not one of {', '.join((*TAKE_BACK_CHANNELS, 'recycled'))}",
        )
    return events
