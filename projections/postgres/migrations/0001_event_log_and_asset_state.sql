-- The event log is the source of truth: every distinct valid event, once (unique event_id).
CREATE TABLE IF NOT EXISTS event_log (
    event_id        uuid PRIMARY KEY,
    tenant_id       text        NOT NULL,
    asset_id        text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    source          text        NOT NULL,
    payload         jsonb       NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS event_log_asset_idx ON event_log (tenant_id, asset_id, occurred_at);
CREATE INDEX IF NOT EXISTS event_log_recorded_idx ON event_log (tenant_id, recorded_at);

-- One row per asset: the pure fold (projections/asset_state.py) of its events.
CREATE TABLE IF NOT EXISTS asset_state (
    tenant_id                         text        NOT NULL,
    asset_id                          text        NOT NULL,
    status                            text,
    category                          text,
    manufacturer                      text,
    model                             text,
    serial                            text,
    supplier                          text,
    condition                         text,
    org_unit                          text,
    purchase_org_unit                 text,
    purchased_at                      timestamptz,
    ended_at                          timestamptz,
    end_reason                        text,
    taken_back_at                     timestamptz,
    refurbished_at                    timestamptz,
    recycled_at                       timestamptz,
    recycled_inside_eu_eea            boolean,
    repair_count                      integer     NOT NULL,
    redeploy_count                    integer     NOT NULL,
    refurbish_count                   integer     NOT NULL,
    certifications                    text[]      NOT NULL,
    product_carbon_footprint_kg_co2e  double precision,
    refurbishment_footprint_kg_co2e   double precision,
    weight_kg                         double precision,
    incomplete_history                boolean     NOT NULL,
    anomaly_count                     integer     NOT NULL,
    anomalies                         jsonb       NOT NULL,
    event_count                       integer     NOT NULL,
    first_occurred_at                 timestamptz,
    last_occurred_at                  timestamptz NOT NULL,
    last_event_rank                   integer     NOT NULL,
    last_event_id                     text        NOT NULL,
    updated_at                        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, asset_id)
);
CREATE INDEX IF NOT EXISTS asset_state_status_idx ON asset_state (tenant_id, status);

-- Per (consumer group, topic, partition): the next offset to apply, written in the same
-- transaction as the projection rows it covers. Offsets below it are already applied.
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer_group     text        NOT NULL,
    topic              text        NOT NULL,
    kafka_partition    integer     NOT NULL,
    next_offset        bigint      NOT NULL,
    events_applied     bigint      NOT NULL DEFAULT 0,
    duplicates_skipped bigint      NOT NULL DEFAULT 0,
    dead_letters       bigint      NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Records that could not be decoded or validated: the reason and the original bytes.
CREATE TABLE IF NOT EXISTS dead_letters (
    id              bigserial PRIMARY KEY,
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    record_key      bytea,
    record_value    bytea,
    reason_kind     text        NOT NULL,
    field           text,
    reason          text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer_group, topic, kafka_partition, kafka_offset)
);
