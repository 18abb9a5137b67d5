-- Second life: the first refurbishment after the organisation's use ended (take-back, ITAD).
ALTER TABLE asset_state ADD COLUMN IF NOT EXISTS second_life_at timestamptz;

-- Tenant settings for the carbon model and targets (projections/tenant_settings.py).
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id  text PRIMARY KEY,
    settings   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- KPI aggregates per tenant x month x category x supplier x org unit. Every measure is an
-- integer (counts, seconds, grams CO2e), so adding and subtracting per-asset contributions is
-- exact: incremental maintenance equals a one-pass recomputation, to the gram.
-- '' stands for "unknown" in the dimension columns (assets with incomplete history).
CREATE TABLE IF NOT EXISTS kpi_monthly (
    tenant_id                       text    NOT NULL,
    month                           date    NOT NULL,
    category                        text    NOT NULL,
    supplier                        text    NOT NULL,
    org_unit                        text    NOT NULL,
    purchases                       bigint  NOT NULL DEFAULT 0,
    purchases_certified             bigint  NOT NULL DEFAULT 0,
    purchases_refurbished           bigint  NOT NULL DEFAULT 0,
    cert_tco_certified              bigint  NOT NULL DEFAULT 0,
    cert_epeat                      bigint  NOT NULL DEFAULT 0,
    cert_energy_star                bigint  NOT NULL DEFAULT 0,
    cert_eu_ecolabel                bigint  NOT NULL DEFAULT 0,
    cert_nordic_swan                bigint  NOT NULL DEFAULT 0,
    cert_blue_angel                 bigint  NOT NULL DEFAULT 0,
    purchases_with_weight           bigint  NOT NULL DEFAULT 0,
    purchased_weight_g              bigint  NOT NULL DEFAULT 0,
    ended                           bigint  NOT NULL DEFAULT 0,
    ended_taken_back                bigint  NOT NULL DEFAULT 0,
    ended_recycled                  bigint  NOT NULL DEFAULT 0,
    taken_back_resale               bigint  NOT NULL DEFAULT 0,
    taken_back_refurbishment        bigint  NOT NULL DEFAULT 0,
    taken_back_donation             bigint  NOT NULL DEFAULT 0,
    taken_back_recycling            bigint  NOT NULL DEFAULT 0,
    lifespan_known                  bigint  NOT NULL DEFAULT 0,
    lifespan_seconds_sum            bigint  NOT NULL DEFAULT 0,
    reached_target                  bigint  NOT NULL DEFAULT 0,
    taken_back                      bigint  NOT NULL DEFAULT 0,
    taken_back_second_life          bigint  NOT NULL DEFAULT 0,
    taken_back_then_recycled        bigint  NOT NULL DEFAULT 0,
    savings_longer_life_g           bigint  NOT NULL DEFAULT 0,
    savings_reuse_g                 bigint  NOT NULL DEFAULT 0,
    savings_refurbished_purchase_g  bigint  NOT NULL DEFAULT 0,
    savings_primary_g               bigint  NOT NULL DEFAULT 0,
    savings_rows                    bigint  NOT NULL DEFAULT 0,
    savings_rows_primary            bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month, category, supplier, org_unit)
);

-- One row per asset and saving method: how each kg CO2e was computed (CSRD traceability).
CREATE TABLE IF NOT EXISTS carbon_savings (
    tenant_id        text             NOT NULL,
    asset_id         text             NOT NULL,
    method           text             NOT NULL,
    month            date             NOT NULL,
    saving_g         bigint           NOT NULL,
    embodied_kg      double precision NOT NULL,
    data_quality     text             NOT NULL,  -- 'primary' (event) or 'secondary' (factor)
    factor_source    text             NOT NULL,
    factor_version   text             NOT NULL,
    parameters       jsonb            NOT NULL,
    PRIMARY KEY (tenant_id, asset_id, method)
);
CREATE INDEX IF NOT EXISTS carbon_savings_month_idx ON carbon_savings (tenant_id, month);
CREATE INDEX IF NOT EXISTS asset_state_ended_idx ON asset_state (tenant_id, ended_at);

-- Which factor table the aggregates were computed with; a change triggers a recomputation.
CREATE TABLE IF NOT EXISTS kpi_model (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    factor_source  text        NOT NULL,
    factor_version text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
