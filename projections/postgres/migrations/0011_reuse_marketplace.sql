-- The internal re-use marketplace (docs/methodology.md, "Internal re-use marketplace").

-- Each asset's offers, folded with the rest of its state in the batch transaction.
ALTER TABLE asset_state ADD COLUMN IF NOT EXISTS offers jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX IF NOT EXISTS asset_state_offers_idx ON asset_state (tenant_id)
    WHERE offers <> '[]'::jsonb;

-- Event ranks (the tie-break of two events at one instant) moved from 0..5 to 0..50, to make
-- room for the marketplace's events between repaired and redeployed
-- (projections/asset_state.py, TYPE_RANK).
UPDATE asset_state SET last_event_rank = last_event_rank * 10;

-- Ended devices that had a second internal user before their use ended (internal re-use).
ALTER TABLE kpi_monthly ADD COLUMN IF NOT EXISTS ended_reused_internally bigint NOT NULL DEFAULT 0;

-- Which version of the KPI definitions the aggregates hold: a new one recomputes them
-- (projections/kpi_facts.py, FACTS_VERSION).
ALTER TABLE kpi_model ADD COLUMN IF NOT EXISTS facts_version integer NOT NULL DEFAULT 1;

-- The HTTP path's one holder per offer: the first reservation through the API wins, a
-- concurrent second one gets 409 (services/http/offers.py). The fold stays the truth.
CREATE TABLE IF NOT EXISTS offer_reservations (
    tenant_id   text        NOT NULL,
    offer_id    uuid        NOT NULL,
    org_unit    text        NOT NULL,
    event_id    uuid        NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, offer_id)
);
