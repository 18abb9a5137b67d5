"""Adapters read untrusted JSON: any value in any field is mapped, or refused naming the
field (``AdapterInputError`` -> 422). Nothing else may escape (it would be a 500), and no
nested value may become text by accident (``"{'a': 1}"`` as an org unit)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.http.ingest import map_payloads, validate_mapped
from services.intake.adapters import ADAPTERS, AdapterInputError

FIXTURES = Path(__file__).parent / "fixtures"
TOOLS = {"servicenow": "servicenow.json", "snipe-it": "snipeit.json", "glpi": "glpi.json"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "   ", "abc", "[/x]", "<b>", "1", "0", "false", "7", "Sold", "Retired"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _fixture_payloads(tool: str) -> list[dict[str, Any]]:
    cases = json.loads((FIXTURES / TOOLS[tool]).read_text())
    return [c["payload"] for c in cases.values()]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    return out


def _replace(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(obj)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


def _assert_only_field_errors(tool: str, payload: Any) -> None:
    try:
        mapping = ADAPTERS[tool]("tenant-a", payload)
    except AdapterInputError as exc:
        assert isinstance(exc.field, str)
        return
    for event in mapping.events:
        for key, value in event["payload"].items():
            if isinstance(value, str):  # no Python repr of a nested value
                assert not value.startswith(("{'", "['", "[{", "[]", "{}", "[[")), (key, value)


@pytest.mark.parametrize("tool", sorted(TOOLS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_value_in_any_field_of_a_real_payload_is_mapped_or_refused(
    tool: str, data: st.DataObject
) -> None:
    base = data.draw(st.sampled_from(_fixture_payloads(tool)))
    paths = _paths(base)
    path = data.draw(st.sampled_from(paths))
    payload = _replace(base, path, data.draw(json_values))
    _assert_only_field_errors(tool, payload)


@pytest.mark.parametrize("tool", sorted(TOOLS))
@settings(max_examples=100, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=12), json_values, max_size=5))
def test_arbitrary_objects_are_mapped_or_refused(tool: str, payload: dict[str, Any]) -> None:
    _assert_only_field_errors(tool, payload)


REPORTED = [
    ("servicenow", {"sys_id": "x", "current": {"install_status": "1"}, "previous": "1"}),
    ("servicenow", {"sys_id": "x", "current": {"install_status": "1"}, "previous": [1]}),
    ("servicenow", {"sys_id": "x", "current": {"install_status": "1"}, "previous": 3}),
    ("snipe-it", {"asset": "x", "activity": {}}),
    ("snipe-it", {"asset": {"id": 1}, "activity": "x"}),
    ("snipe-it", {"asset": {"id": 1}, "maintenance": None}),
    ("snipe-it", {"asset": {"id": 1}, "maintenance": []}),
    (
        "snipe-it",
        {
            "asset": {"id": 1, "checkout_counter": "abc"},
            "activity": {"id": 1, "action_type": "checkout", "created_at": "2024-01-01"},
        },
    ),
    (
        "snipe-it",
        {
            "asset": {"id": 1, "status_label": "Sold"},
            "activity": {"id": 1, "action_type": "update", "created_at": "2024-01-01"},
        },
    ),
    (
        "snipe-it",
        {
            "asset": {"id": 1, "status_label": {"name": "Sold", "status_type": 3}},
            "activity": {"id": 1, "action_type": "update", "created_at": "2024-01-01"},
        },
    ),
    (
        "snipe-it",
        {
            "asset": {"id": 1, "warranty_months": "   ", "category": {"name": "Laptop"}},
            "activity": {"id": 1, "action_type": "create new", "created_at": "2024-01-01"},
        },
    ),
    (
        "snipe-it",
        {
            "asset": {
                "id": 1,
                "custom_fields": [1, 2],
                "status_label": {"name": "Recycled", "status_type": "archived"},
            },
            "activity": {"id": 1, "action_type": "update", "created_at": "2024-01-01"},
        },
    ),
    ("glpi", {"event": "update", "itemtype": "Computer", "item": "x"}),
    ("glpi", {"event": "update", "itemtype": "Computer", "item": {"id": 1}, "previous": "x"}),
]


@pytest.mark.parametrize(("tool", "payload"), REPORTED)
def test_reported_payloads_get_a_field_error_not_a_crash(tool: str, payload: Any) -> None:
    _assert_only_field_errors(tool, payload)
    mapped = map_payloads(tool, "tenant-a", [payload])  # never raises
    assert len(mapped.errors) + len(mapped.unmapped) + len(mapped.events) >= 1


def test_servicenow_department_that_is_not_text_is_refused_not_stringified() -> None:
    payload = json.loads((FIXTURES / "servicenow.json").read_text())["received_into_stock"][
        "payload"
    ]
    payload = copy.deepcopy(payload)
    payload["current"]["department"] = {"display_value": {"a": 1}}
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS["servicenow"]("tenant-a", payload)
    assert caught.value.field.startswith("current.department")


@pytest.mark.parametrize("text", ["false", "0", "no", "False", 0, False])
def test_glpi_inside_eu_eea_false_in_any_spelling_is_false(text: Any) -> None:
    hook = {
        "event": "update",
        "itemtype": "Computer",
        "item": {
            "id": 7,
            "serial": "S7",
            "status": {"name": "Recycled"},
            "date_mod": "2024-05-01T10:00:00Z",
            "infocom": {"supplier": {"name": "Stena"}, "inside_eu_eea": text},
        },
        "previous": {"status": {"name": "In use"}},
    }
    mapping = ADAPTERS["glpi"]("tenant-a", hook)
    assert [e["payload"]["inside_eu_eea"] for e in mapping.events] == [False]


def test_an_unreadable_eu_eea_flag_is_refused_naming_the_field() -> None:
    hook = {
        "event": "update",
        "itemtype": "Computer",
        "item": {
            "id": 7,
            "status": {"name": "Recycled"},
            "date_mod": "2024-05-01T10:00:00Z",
            "infocom": {"supplier": {"name": "Stena"}, "inside_eu_eea": "maybe"},
        },
        "previous": {"status": {"name": "In use"}},
    }
    with pytest.raises(AdapterInputError) as caught:
        ADAPTERS["glpi"]("tenant-a", hook)
    assert caught.value.field == "item.infocom.inside_eu_eea"


def test_an_invalid_event_after_an_unmapped_payload_is_reported_at_its_request_index() -> None:
    unmapped = {
        "event": "delete",
        "itemtype": "Computer",
        "item": {"id": 1, "date_mod": "2024-01-01T00:00:00Z"},
    }
    invalid = {
        "event": "new",
        "itemtype": "Computer",
        "item": {
            "id": 2,
            "type": {"name": "Laptop"},
            "manufacturer": "Dell",
            "model": "x" * 300,  # over the contract's 200 characters
            "date_mod": "2024-01-01T00:00:00Z",
            "infocom": {"supplier": "Atea"},
        },
    }
    mapped = map_payloads("glpi", "tenant-a", [unmapped, invalid])
    assert not mapped.errors and len(mapped.unmapped) == 1 and len(mapped.events) == 1
    submission = validate_mapped(mapped, "tenant-a")
    assert [e.index for e in submission.errors] == [1]
