"""Asset-register rows -> events: mapping, deterministic ids, and errors naming the column."""

from __future__ import annotations

import io

import pytest

from events.models import PurchasedPayload
from services.intake.register import RowError, csv_rows, events_for_row, jsonl_rows

HEADER = (
    "asset_id,purchase_date,category,manufacturer,model,supplier,serial,condition,"
    "certifications,weight_kg,product_carbon_footprint_kg_co2e,price,currency,org_unit,"
    "end_of_use_date,disposition,counterparty,recycler,inside_eu_eea\n"
)


def _rows(body: str) -> list[tuple[int, dict[str, str]]]:
    return list(csv_rows(io.BytesIO((HEADER + body).encode())))


def test_full_row_maps_to_purchase_and_take_back() -> None:
    [(line, row)] = _rows(
        "A1,2021-03-01,Laptop,Lenovo,T14,Atea,PF1,refurbished,"
        'tco_certified:Generation 9:2024-12-31;epeat,"1,4",251,9990,sek,skola,'
        "2025-02-01,resale,Inrego,,\n"
    )
    assert line == 2
    purchased, taken_back = events_for_row("kommun", row, "register-import")
    assert purchased.event_type == "purchased" and taken_back.event_type == "taken_back"
    p = purchased.payload
    assert (p.category.value, p.condition.value, p.weight_kg) == ("laptop", "refurbished", 1.4)
    assert p.product_carbon_footprint_kg_co2e == 251.0
    assert p.price is not None and (p.price.amount, p.price.currency) == (9990.0, "SEK")
    assert [(c.scheme.value, c.generation) for c in p.certifications] == [
        ("tco_certified", "Generation 9"),
        ("epeat", None),
    ]
    assert taken_back.payload.channel.value == "resale"
    assert taken_back.occurred_at.isoformat() == "2025-02-01T00:00:00+00:00"


def test_event_ids_are_deterministic_per_tenant_asset_type_and_date() -> None:
    [(_, row)] = _rows("A1,2021-03-01,laptop,L,M,S,,,,,,,,,,,,,\n")
    first = events_for_row("t", row, "x")[0].event_id
    assert events_for_row("t", row, "other source")[0].event_id == first
    assert events_for_row("u", row, "x")[0].event_id != first


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (",2021-03-01,laptop,L,M,S,,,,,,,,,,,,,\n", "asset_id", "required"),
        ("A,03/01/2021,laptop,L,M,S,,,,,,,,,,,,,\n", "purchase_date", "not a date"),
        ("A,2021-03-01,toaster,L,M,S,,,,,,,,,,,,,\n", "category", "laptop"),
        ("A,2021-03-01,laptop,L,M,S,,,,heavy,,,,,,,,,\n", "weight_kg", "not a number"),
        ("A,2021-03-01,laptop,L,M,S,,,greenish,,,,,,,,,,\n", "certifications[0].scheme", "epeat"),
        ("A,2021-03-01,laptop,L,M,S,,,,,,,,,2025-01-01,,,,\n", "disposition", "required"),
        ("A,2021-03-01,laptop,L,M,S,,,,,,,,,2025-01-01,sold,X,,\n", "disposition", "not one of"),
        ("A,2021-03-01,laptop,L,M,S,,,,,,,,,2025-01-01,resale,,,\n", "counterparty", "required"),
        (
            "A,2021-03-01,laptop,L,M,S,,,,,,,,,2025-01-01,recycled,,R,maybe\n",
            "inside_eu_eea",
            "yes/no",
        ),
        (
            "A,2021-03-01,laptop,L,M,S,,,,,,,,,2020-01-01,recycled,,R,no\n",
            "end_of_use_date",
            "before",
        ),
    ],
)
def test_bad_rows_name_the_column(body: str, field: str, words: str) -> None:
    [(_, row)] = _rows(body)
    with pytest.raises(RowError) as caught:
        events_for_row("t", row, "x")
    assert caught.value.field == field
    assert words in caught.value.reason


def test_semicolon_separated_export_and_blank_lines() -> None:
    body = (
        "asset_id;purchase_date;category;manufacturer;model;supplier\n"
        "\n"
        "A;2021-03-01;monitor;D;P;S\n"
    )
    rows = list(csv_rows(io.BytesIO(body.encode())))
    assert [line for line, _ in rows] == [3]
    payload = events_for_row("t", rows[0][1], "x")[0].payload
    assert isinstance(payload, PurchasedPayload)
    assert payload.category.value == "monitor"


def test_jsonl_rows_and_their_errors() -> None:
    data = (
        b'{"asset_id": "A", "purchase_date": "2021-03-01", "category": "tablet", '
        b'"manufacturer": "Apple", "model": "iPad", "supplier": "S", "weight_kg": 0.5, '
        b'"disposition": "recycled", "end_of_use_date": "2024-05-01", "recycler": "R", '
        b'"inside_eu_eea": true}\n'
        b"not json\n"
        b"[1]\n"
    )
    rows = list(jsonl_rows(io.BytesIO(data)))
    assert [line for line, _ in rows] == [1, 2, 3]
    good = rows[0][1]
    assert isinstance(good, dict)
    assert [e.event_type for e in events_for_row("t", good, "x")] == ["purchased", "recycled"]
    assert isinstance(rows[1][1], RowError) and "not valid JSON" in str(rows[1][1])
    assert isinstance(rows[2][1], RowError)
