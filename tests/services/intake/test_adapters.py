"""Each adapter: vendor-shaped fixtures -> expected canonical events; unmapped changes and
malformed payloads are reported with the reason. Fixtures use the vendors' documented field
names and record shapes (ServiceNow alm_hardware in all three Table API shapes, Snipe-IT API v1,
GLPI 11 webhooks and API v2); each case names its source in ``"source"``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from events.codec import decode_object
from services.intake.adapters import ADAPTERS, AdapterInputError
from services.intake.adapters.base import AdapterOptions, AdapterSettings
from services.intake.adapters.servicenow import STATUS_NAMES

FIXTURES = Path(__file__).parent / "fixtures"
FILES = {"servicenow": "servicenow.json", "snipe-it": "snipeit.json", "glpi": "glpi.json"}
CASES = [
    (tool, name, case)
    for tool, file in FILES.items()
    for name, case in json.loads((FIXTURES / file).read_text()).items()
]


def _options(case: dict[str, Any]) -> AdapterOptions:
    return AdapterOptions(
        settings=AdapterSettings.model_validate(case.get("settings", {})),
        itemtype=case.get("options", {}).get("itemtype"),
    )


def _check(tool: str, case: dict[str, Any], payload: dict[str, Any]) -> None:
    mapping = ADAPTERS[tool]("kommun", payload, _options(case))
    got = [
        {k: e[k] for k in ("event_type", "asset_id", "occurred_at", "payload")}
        for e in mapping.events
    ]
    assert got == case["expected"]
    for event in mapping.events:
        valid = decode_object(event)  # what the adapter emits passes the contract
        assert valid.tenant_id == "kommun"
        assert valid.source == tool
    assert len(mapping.unmapped) == len(case["unmapped"]), mapping.unmapped
    for reason, words in zip(mapping.unmapped, case["unmapped"], strict=True):
        assert words in reason
    # a lifecycle signal that maps to no event is kept for an operator, never lost silently
    assert len(mapping.signals) == case["signals"], mapping.unmapped


@pytest.mark.parametrize(("tool", "name", "case"), CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_fixture_maps_to_expected_events(tool: str, name: str, case: dict[str, Any]) -> None:
    assert case["source"]
    _check(tool, case, case["payload"])


_CHOICES = {"install_status", "substatus"}
_SUBSTATE_LABELS = {
    "sold": "Sold",
    "donated": "Donated",
    "vendor_credit": "Vendor credit",
    "lease_return": "Lease return",
    "pending_disposal": "Pending disposal",
    "disposed": "Disposed",
    "available": "Available",
    "pending_repair": "Pending repair",
}


def _as_display_true(record: Any) -> Any:
    """sysparm_display_value=true: choice labels, reference names, plain strings."""
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "install_status" and value:
            out[key] = STATUS_NAMES[value]
        elif key == "substatus" and value:
            out[key] = _SUBSTATE_LABELS[value]
        elif isinstance(value, dict):
            out[key] = value["display_value"]
        else:
            out[key] = value
    return out


def _as_display_all(record: Any) -> Any:
    """sysparm_display_value=all: every field a {display_value, value} pair."""
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = value
        elif key == "install_status" and value:
            out[key] = {"display_value": STATUS_NAMES[value], "value": value}
        elif key == "substatus" and value:
            out[key] = {"display_value": _SUBSTATE_LABELS[value], "value": value}
        elif key == "sys_updated_on":  # display value in the user's zone and format
            out[key] = {"display_value": "29.11.2026 21:00", "value": value}
        else:
            out[key] = {"display_value": value, "value": value}
    return out


SERVICENOW = [(n, c) for t, n, c in CASES if t == "servicenow"]


@pytest.mark.parametrize("shape", ["true", "all"])
@pytest.mark.parametrize(("name", "case"), SERVICENOW, ids=[n for n, _ in SERVICENOW])
def test_servicenow_reads_every_table_api_shape(
    name: str, case: dict[str, Any], shape: str
) -> None:
    convert = _as_display_true if shape == "true" else _as_display_all
    payload = {
        **case["payload"],
        "previous": convert(case["payload"].get("previous")),
        "current": convert(case["payload"]["current"]),
    }
    _check("servicenow", case, payload)


def test_servicenow_model_category_by_sys_id_through_the_tenants_settings() -> None:
    case = json.loads((FIXTURES / "servicenow.json").read_text())["received_into_stock"]
    payload = json.loads(json.dumps(case["payload"]))
    sys_id = "d501454f1b1310002502fbcd2c071334"
    payload["current"]["model_category"] = {"link": "https://x/api", "value": sys_id}
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS["servicenow"]("kommun", payload)
    assert caught.value.field == "current.model_category"
    assert "sysparm_display_value=all" in caught.value.reason
    options = AdapterOptions(AdapterSettings.model_validate({"categories": {sys_id: "laptop"}}))
    events = ADAPTERS["servicenow"]("kommun", payload, options).events
    assert [e["payload"]["category"] for e in events] == ["laptop"]


@pytest.mark.parametrize("name", ["Computer", "computers", "PC"])
def test_an_ambiguous_category_is_never_guessed(name: str) -> None:
    case = json.loads((FIXTURES / "servicenow.json").read_text())["received_into_stock"]
    payload = json.loads(json.dumps(case["payload"]))
    payload["current"]["model_category"] = {"display_value": name, "value": "x"}
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS["servicenow"]("kommun", payload)
    assert "not guessed" in caught.value.reason
    options = AdapterOptions(AdapterSettings.model_validate({"categories": {name: "desktop"}}))
    events = ADAPTERS["servicenow"]("kommun", payload, options).events
    assert [e["payload"]["category"] for e in events] == ["desktop"]


def test_snipeit_tenant_words_and_custom_field_names() -> None:
    cases = json.loads((FIXTURES / "snipeit.json").read_text())
    payload = json.loads(json.dumps(cases["recycled_with_suffixed_custom_field"]["payload"]))
    payload["activity"]["log_meta"]["Status Label"]["new"] = "[id: 7] Kasserad"
    payload["asset"]["custom_fields"] = {"EU": {"field": "_snipeit_eu_12", "value": "nej"}}
    settings = AdapterSettings.model_validate(
        {"words": {"Kasserad": "recycled"}, "custom_fields": {"inside_eu_eea": "_snipeit_eu_12"}}
    )
    events = ADAPTERS["snipe-it"]("kommun", payload, AdapterOptions(settings)).events
    assert [(e["event_type"], e["payload"]["inside_eu_eea"]) for e in events] == [
        ("recycled", False)
    ]


@pytest.mark.parametrize("tool", FILES)
def test_same_change_twice_gives_the_same_event_id(tool: str) -> None:
    cases = json.loads((FIXTURES / FILES[tool]).read_text())
    case = next(c for c in cases.values() if c["expected"])
    payload, options = case["payload"], _options(case)
    first = ADAPTERS[tool]("kommun", payload, options).events[0]["event_id"]
    assert ADAPTERS[tool]("kommun", payload, options).events[0]["event_id"] == first
    assert ADAPTERS[tool]("other", payload, options).events[0]["event_id"] != first


@pytest.mark.parametrize(
    ("tool", "payload", "field"),
    [
        ("servicenow", {"previous": None}, "current"),
        (
            "servicenow",
            {"current": {"install_status": "1", "sys_id": "x"}},
            "current.sys_updated_on",
        ),
        (
            "servicenow",
            {
                "current": {
                    "sys_id": "x",
                    "install_status": "6",
                    "sys_updated_on": "2024-01-01 00:00:00",
                    "model_category": "Coffee machine",
                }
            },
            "current.model_category",
        ),
        (
            "snipe-it",
            {
                "activity": {
                    "id": 1,
                    "action_type": "create new",
                    "created_at": {"datetime": "2024-01-01 00:00:00"},
                },
                "asset": {"id": 1, "category": {"name": "Laptop"}},
            },
            "asset.manufacturer",
        ),
        ("snipe-it", {"asset": {"id": 1}}, "activity"),
        (  # GLPI's default webhook body names no item type: the webhook URL must
            "glpi",
            {"event": "update", "item": {"id": 1, "date_mod": "2024-01-01"}},
            "itemtype",
        ),
        (
            "glpi",
            {
                "event": "new",
                "itemtype": "Computer",
                "item": {
                    "id": 1,
                    "date_mod": "2024-01-01T00:00:00Z",
                    "type": {"name": "Blender"},
                    "infocom": {"supplier": "Atea"},
                },
            },
            "item.type",
        ),
    ],
)
def test_malformed_payload_names_the_field(tool: str, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS[tool]("kommun", payload)
    assert caught.value.field == field
