"""Each adapter: vendor-shaped fixtures -> expected canonical events; unmapped changes and
malformed payloads are reported with the reason. Fixtures use the vendors' documented field
names (ServiceNow alm_hardware, Snipe-IT API v1, GLPI 11 API v2 shapes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from events.codec import decode_object
from services.adapters import ADAPTERS, AdapterInputError

FIXTURES = Path(__file__).parent / "fixtures"
FILES = {"servicenow": "servicenow.json", "snipe-it": "snipeit.json", "glpi": "glpi.json"}
CASES = [
    (tool, name, case)
    for tool, file in FILES.items()
    for name, case in json.loads((FIXTURES / file).read_text()).items()
]


@pytest.mark.parametrize(("tool", "name", "case"), CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_fixture_maps_to_expected_events(tool: str, name: str, case: dict[str, Any]) -> None:
    mapping = ADAPTERS[tool]("kommun", case["payload"])
    got = [
        {k: e[k] for k in ("event_type", "asset_id", "occurred_at", "payload")}
        for e in mapping.events
    ]
    assert got == case["expected"]
    for event in mapping.events:
        valid = decode_object(event)  # what the adapter emits passes the contract
        assert valid.tenant_id == "kommun"
        assert valid.source == tool
    assert len(mapping.unmapped) == len(case["unmapped"])
    for reason, words in zip(mapping.unmapped, case["unmapped"], strict=True):
        assert words in reason


@pytest.mark.parametrize("tool", FILES)
def test_same_change_twice_gives_the_same_event_id(tool: str) -> None:
    cases = json.loads((FIXTURES / FILES[tool]).read_text())
    payload = next(c["payload"] for c in cases.values() if c["expected"])
    first = ADAPTERS[tool]("kommun", payload).events[0]["event_id"]
    assert ADAPTERS[tool]("kommun", payload).events[0]["event_id"] == first
    assert ADAPTERS[tool]("other", payload).events[0]["event_id"] != first


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
        (
            "glpi",
            {
                "event": "update",
                "itemtype": "Computer",
                "item": {"id": 1, "status": {"name": "In use"}, "date_mod": "2024-01-01"},
            },
            "previous",
        ),
        (
            "glpi",
            {
                "event": "new",
                "itemtype": "Computer",
                "item": {"id": 1, "date_mod": "2024-01-01T00:00:00Z", "type": {"name": "Blender"}},
            },
            "item.type",
        ),
    ],
)
def test_malformed_payload_names_the_field(tool: str, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS[tool]("kommun", payload)
    assert caught.value.field == field
