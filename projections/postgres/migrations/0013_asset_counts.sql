-- Assets per tenant x category x status x month of purchase (projections/asset_counts.py):
-- what the fleet overview and the assets-by-status count read, instead of every asset's
-- index entry. Kept by the writer in the batch's transaction (minus the old state's count,
-- plus the new one's), so the counts always equal a count of asset_state.
-- '' stands for "unknown" in category and status; purchase_month is NULL where no purchase
-- date is known. purchased_us is the sum of the purchase instants in microseconds since
-- 1970 (UTC): numeric, as a bigint would overflow at ~5,400 devices of one month.
CREATE TABLE IF NOT EXISTS asset_counts (
    tenant_id      text    NOT NULL,
    category       text    NOT NULL,
    status         text    NOT NULL,
    purchase_month date,
    devices        bigint  NOT NULL DEFAULT 0,
    purchased_us   numeric NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS asset_counts_key
    ON asset_counts (tenant_id, category, status, (COALESCE(purchase_month, '-infinity'::date)));

-- The one month a category's target-lifespan cutoff falls in is counted from the devices
-- themselves (the cutoff is an instant, not a month): this index holds only devices in use.
CREATE INDEX IF NOT EXISTS asset_state_in_use_purchase_idx
    ON asset_state (tenant_id, category, purchased_at) WHERE status = 'in_use';

-- The fleet overview and the status count no longer scan assets; one index fewer to keep on
-- every write that moves a status.
DROP INDEX IF EXISTS asset_state_fleet_idx;

-- Filled from the asset states by the recomputation that KPI definitions version 3
-- (projections/kpi_facts.py, FACTS_VERSION) brings at the worker's next start.
