"""One documented example per event type: shown in README.md and the JSON Schema, and checked
by the test suite, so the documentation cannot drift from the contract."""

from __future__ import annotations

from typing import Any

_ENVELOPE = {"schema_version": 2, "tenant_id": "goteborg-kommun", "asset_id": "SN-PF3K9Z21"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "purchased": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e01",
        "event_type": "purchased",
        "occurred_at": "2022-03-14T09:30:00+01:00",
        "source": "servicenow",
        "payload": {
            "category": "laptop",
            "manufacturer": "Lenovo",
            "model": "ThinkPad T14 Gen 3",
            "serial": "PF3K9Z21",
            "supplier": "Atea",
            "condition": "new",
            "certifications": [
                {
                    "scheme": "tco_certified",
                    "generation": "Generation 9",
                    "valid_until": "2024-12-31",
                },
                {"scheme": "epeat", "generation": "Gold"},
            ],
            "product_carbon_footprint_kg_co2e": 251.0,
            "weight_kg": 1.21,
            "price": {"amount": 13990, "currency": "SEK"},
            "warranty_months": 36,
            "org_unit": "skola-nord",
        },
    },
    "repaired": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e02",
        "event_type": "repaired",
        "occurred_at": "2023-09-02T13:00:00Z",
        "source": "servicenow",
        "payload": {
            "kind": "repair",
            "parts": ["battery"],
            "cost": {"amount": 890, "currency": "SEK"},
            "repair_footprint_kg_co2e": 4.5,
        },
    },
    "redeployed": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e03",
        "event_type": "redeployed",
        "occurred_at": "2024-08-19T08:00:00Z",
        "source": "servicenow",
        "payload": {"to_org_unit": "socialtjanst"},
    },
    "taken_back": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e04",
        "event_type": "taken_back",
        "occurred_at": "2026-03-20T10:00:00Z",
        "source": "itad-report",
        "payload": {
            "counterparty": "Inrego",
            "channel": "refurbishment",
            "certificate_reference": "INR-2027-004411",
            "data_erasure_certificate_reference": "INR-WIPE-2026-88120",
            "functional_test": {"result": "passed", "report_reference": "INR-TEST-88120"},
            "compensation": {"amount": 1200, "currency": "SEK"},
            "inside_eu_eea": True,
        },
    },
    "refurbished": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e05",
        "event_type": "refurbished",
        "occurred_at": "2026-04-28T10:00:00Z",
        "source": "itad-report",
        "payload": {
            "refurbisher": "Inrego",
            "grade": "A",
            "refurbishment_footprint_kg_co2e": 18.0,
            "functional_test": {"result": "passed", "report_reference": "INR-TEST-90211"},
            "inside_eu_eea": True,
        },
    },
    "recycled": {
        **_ENVELOPE,
        "asset_id": "SN-MON-88812",
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e06",
        "event_type": "recycled",
        "occurred_at": "2026-11-02T10:00:00Z",
        "source": "itad-report",
        "payload": {
            "recycler": "Stena Recycling",
            "weight_kg": 5.4,
            "certificate_reference": "STENA-REC-55120",
            "inside_eu_eea": True,
        },
    },
    "offered_for_reuse": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e07",
        "event_type": "offered_for_reuse",
        "occurred_at": "2024-06-03T09:00:00Z",
        "source": "kretslopp-marketplace",
        "payload": {
            "org_unit": "skola-nord",
            "condition": "good",
            "includes": ["charger", "docking station"],
            "location": "Nordskolan, IT-rummet",
            "available_until": "2024-08-31",
        },
    },
    "reserved": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e08",
        "event_type": "reserved",
        "occurred_at": "2024-06-10T13:00:00Z",
        "source": "kretslopp-marketplace",
        "payload": {"offer_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e07", "org_unit": "socialtjanst"},
    },
    "reservation_released": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e09",
        "event_type": "reservation_released",
        "occurred_at": "2024-06-12T08:00:00Z",
        "source": "kretslopp-marketplace",
        "payload": {"offer_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e07", "org_unit": "socialtjanst"},
    },
    "offer_withdrawn": {
        **_ENVELOPE,
        "event_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e10",
        "event_type": "offer_withdrawn",
        "occurred_at": "2024-06-20T08:00:00Z",
        "source": "kretslopp-marketplace",
        "payload": {
            "offer_id": "5b0e8f5e-2f6b-4d0c-9d8a-1a2b3c4d5e07",
            "reason": "kept by the unit after all",
        },
    },
}
