-- Versioned tenant settings and factor tables (docs/methodology.md, "Versioned settings and
-- factor tables"). A change never overwrites the one before: it is a new version with who
-- recorded it, when, and from which date it applies (NULL: from the start, a restatement), so
-- a report "as known on" a date uses the settings and the factors known on that date.
CREATE TABLE IF NOT EXISTS tenant_settings_history (
    tenant_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    settings       jsonb       NOT NULL,
    effective_from date,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by    text        NOT NULL,
    reason         text,
    PRIMARY KEY (tenant_id, version)
);

-- Settings stored before versions were kept become version 1, from the start.
INSERT INTO tenant_settings_history (tenant_id, version, settings, recorded_at, recorded_by)
SELECT tenant_id, 1, settings, updated_at, 'stored before settings were versioned'
FROM tenant_settings
ON CONFLICT DO NOTHING;

-- tenant_settings stays the current version of each tenant (the newest in the history).
ALTER TABLE tenant_settings ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1;

-- Every factor table the deployment's KPIs were computed with, with its figures, so a report
-- as known before a change is reproduced even after a later release changes the table.
CREATE TABLE IF NOT EXISTS factor_table_history (
    version        integer     PRIMARY KEY CHECK (version >= 1),
    factor_source  text        NOT NULL,
    factor_version text        NOT NULL,
    citation       text        NOT NULL,
    embodied_kg    jsonb       NOT NULL,
    effective_from date,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    recorded_by    text        NOT NULL
);
