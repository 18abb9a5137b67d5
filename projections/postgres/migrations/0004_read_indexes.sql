-- Covering indexes for the read API (bench/api_latency.py): the fleet overview and the
-- lifespan medians read only these columns, so PostgreSQL can answer from the index alone.
CREATE INDEX IF NOT EXISTS asset_state_fleet_idx
    ON asset_state (tenant_id, status) INCLUDE (category, purchased_at);
CREATE INDEX IF NOT EXISTS asset_state_ended_cover_idx
    ON asset_state (tenant_id, ended_at) INCLUDE (purchased_at, category, supplier, org_unit);
DROP INDEX IF EXISTS asset_state_ended_idx;
DROP INDEX IF EXISTS asset_state_status_idx;
