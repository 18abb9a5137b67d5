-- Operator keys read operator-wide endpoints (/v1/status) and no tenant's data; tenant keys
-- read and write one tenant only. Operator keys carry tenant_id '*' only for display.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'tenant'
    CHECK (kind IN ('tenant', 'operator'));
