-- A recreated topic (the embedded broker keeps nothing across a restart) reuses offsets, so a
-- dead letter is identified by its coordinates AND its bytes: a different record at an offset
-- seen before is stored, an identical redelivery is not.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS record_sha256 bytea
    GENERATED ALWAYS AS (sha256(COALESCE(record_value, ''::bytea))) STORED;
ALTER TABLE dead_letters
    DROP CONSTRAINT IF EXISTS dead_letters_consumer_group_topic_kafka_partition_kafka_offset_key;
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_identity_idx
    ON dead_letters (consumer_group, topic, kafka_partition, kafka_offset, record_sha256);
