-- A dead letter keeps the original bytes up to a limit (projections/batch.py,
-- MAX_STORED_RECORD_BYTES); beyond it they are cut, marked, and the full size is recorded.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS record_size bigint;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS record_truncated boolean NOT NULL DEFAULT false;

-- Instants outside the valid range of occurred_at (events/models.py: from 1980-01-01 UTC to a
-- day after now) were accepted before that range existed and stored as -infinity / infinity,
-- which broke rebuilds and reports for every tenant. Move them out of the event log into the
-- dead letters, with the event as JSON as their bytes, so they can be corrected and re-sent
-- (`kretslopp dlq retry`). Run `kretslopp rebuild` afterwards if any were moved: the asset
-- states and KPIs of those assets still hold them until refolded.
WITH moved AS (
    DELETE FROM event_log
    WHERE NOT isfinite(occurred_at) OR occurred_at < '1980-01-01T00:00:00Z'
       OR occurred_at > now() + interval '1 day'
    RETURNING *
)
INSERT INTO dead_letters (consumer_group, topic, kafka_partition, kafka_offset, record_key,
                          record_value, reason_kind, field, reason, record_size)
SELECT 'migration-0007', m.topic, m.kafka_partition, m.kafka_offset,
       convert_to(m.tenant_id, 'UTF8') || '\x00'::bytea || convert_to(m.asset_id, 'UTF8'),
       convert_to(json_build_object(
           'event_id', m.event_id, 'event_type', m.event_type,
           'schema_version', m.schema_version, 'tenant_id', m.tenant_id,
           'asset_id', m.asset_id, 'occurred_at', m.occurred_at::text,
           'source', m.source, 'payload', m.payload)::text, 'UTF8'),
       'validation', 'occurred_at',
       'occurred_at: outside 1980-01-01T00:00:00Z .. now + 1 day (quarantined by migration 0007)',
       NULL
FROM moved m;

UPDATE dead_letters SET record_size = octet_length(record_value)
WHERE record_size IS NULL AND record_value IS NOT NULL;
