-- Per tenant and tool: how the tool's words map to ours (services/intake/adapters/base.py,
-- AdapterSettings): category names or sys_ids, custom field columns, translated words.
CREATE TABLE IF NOT EXISTS adapter_settings (
    tenant_id  text        NOT NULL,
    tool       text        NOT NULL,
    settings   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tool)
);

-- Changes an adapter received that carry a lifecycle signal (a status or substate change) but
-- map to no event: kept with the payload so an operator can see and act on each one
-- (`kretslopp adapters unmapped`, status), never lost silently.
CREATE TABLE IF NOT EXISTS adapter_unmapped (
    id          bigserial PRIMARY KEY,
    tenant_id   text        NOT NULL,
    tool        text        NOT NULL,
    asset_id    text        NOT NULL,
    reason      text        NOT NULL,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS adapter_unmapped_tenant_idx ON adapter_unmapped (tenant_id, received_at);
