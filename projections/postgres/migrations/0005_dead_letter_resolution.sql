-- A dead letter can be corrected and re-submitted (kretslopp dlq retry); it stays as evidence.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolution text;
CREATE INDEX IF NOT EXISTS dead_letters_open_idx ON dead_letters (reason_kind)
    WHERE resolved_at IS NULL;
