"""The gateway's one-pass validation of a body (``validate_body``) answers exactly what the
item-by-item path answers, for valid and for hostile bodies alike."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.submission import (
    Submission,
    SubmissionError,
    parse_body,
    validate_body,
    validate_items,
)
from tests.factories import fleet

TENANT = "tenant-a"
VALID = [dict(e, tenant_id=TENANT) for e in fleet(6, 4, seed=11)]


def _answer(body: bytes, path: Any) -> tuple[str, Any]:
    try:
        out: Submission = path(body)
    except SubmissionError as exc:
        return "refused", (exc.status, exc.message)
    return "submission", (out.events, out.errors, out.repeated)


def _exact(body: bytes) -> Submission:
    return validate_items(parse_body(body), TENANT)


def _fast(body: bytes) -> Submission:
    return validate_body(body, TENANT)


hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["", "\u0000", "<script>", "9999-12-31T23:00:00-05:00", "1", "other"]),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    events = copy.deepcopy(draw(st.lists(st.sampled_from(VALID), min_size=0, max_size=8)))
    for event in events:
        if draw(st.booleans()):
            target = event
            if draw(st.booleans()) and isinstance(event.get("payload"), dict):
                target = event["payload"]
            name = draw(st.sampled_from([*target, "extra"]))
            if draw(st.integers(0, 3)) == 0:
                target.pop(name, None)
            else:
                target[name] = draw(hostile_values)
    if len(events) > 0 and draw(st.booleans()):
        events.append(copy.deepcopy(events[0]))  # repeated inside the request
    # json, not orjson: it writes NaN, Infinity and integers past 64 bits, as some clients do
    body = json.dumps(events).encode()
    return draw(st.sampled_from([body, b"  " + body, body[:-1], b"[" + body + b"]"]))


@settings(max_examples=300, deadline=None)
@given(bodies())
def test_one_pass_answers_what_the_exact_path_answers(body: bytes) -> None:
    assert _answer(body, _fast) == _answer(body, _exact)


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(VALID),
        orjson.dumps(VALID + VALID[:2]),
        orjson.dumps(VALID[0]),  # one object: the exact path
        orjson.dumps([dict(VALID[0], tenant_id="someone-else")]),
        orjson.dumps([dict(VALID[0], schema_version=1)]),
        b"[" * 100 + b"]" * 100,
        b"[]",
        orjson.dumps(VALID * 200),  # over MAX_ITEMS
    ],
)
def test_known_bodies(body: bytes) -> None:
    assert _answer(body, _fast) == _answer(body, _exact)


def test_a_valid_body_takes_the_one_pass_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import services.intake.submission as submission

    def refuse(*args: object) -> None:
        raise AssertionError("the exact path ran for a valid body")

    monkeypatch.setattr(submission, "parse_body", refuse)
    out = validate_body(orjson.dumps(VALID), TENANT)
    assert [str(e.event_id) for e in out.events] == [e["event_id"] for e in VALID]
