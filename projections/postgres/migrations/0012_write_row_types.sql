-- The rows the writer sends, as composite types: a batch travels as ONE array of rows instead
-- of one array per column. asyncpg checks every element of an array parameter against three
-- collections.abc classes (one or two per element) before encoding it (asyncpg/protocol/codecs/array.pyx,
-- _get_array_shape): with 35 column arrays that was ~50 checks per state, with one array of
-- rows it is 4 per row (projections/postgres/writer.py has the measured figures).
-- The attributes are the columns in projections/state_rows.py (COLUMNS, COLUMN_TYPES) and
-- projections/event_rows.py (WRITE_COLUMNS), in that order; tests/integration/test_write_rows.py
-- fails if they drift apart. A later migration that adds a column adds the attribute too.

CREATE TYPE asset_state_write_row AS (
    tenant_id text,
    asset_id text,
    status text,
    category text,
    manufacturer text,
    model text,
    serial text,
    supplier text,
    condition text,
    org_unit text,
    purchase_org_unit text,
    purchased_at timestamptz,
    ended_at timestamptz,
    end_reason text,
    taken_back_at timestamptz,
    refurbished_at timestamptz,
    second_life_at timestamptz,
    recycled_at timestamptz,
    recycled_inside_eu_eea bool,
    repair_count int,
    redeploy_count int,
    refurbish_count int,
    certifications text,
    product_carbon_footprint_kg_co2e float8,
    refurbishment_footprint_kg_co2e float8,
    weight_kg float8,
    incomplete_history bool,
    anomaly_count int,
    anomalies text,
    offers text,
    event_count int,
    first_occurred_at timestamptz,
    last_occurred_at timestamptz,
    last_event_rank int,
    last_event_id text
);

CREATE TYPE event_log_write_row AS (
    event_id uuid,
    tenant_id text,
    asset_id text,
    event_type text,
    schema_version int,
    occurred_at timestamptz,
    source text,
    payload text,
    kafka_partition int,
    kafka_offset bigint
);
