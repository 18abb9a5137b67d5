-- The projection tables' indexes under the names their migrations gave them.
-- Until this release a rebuild swapped in tables made with LIKE ... INCLUDING ALL, whose
-- indexes PostgreSQL names itself (asset_state_rebuild_pkey, ..._rebuild_tenant_id_idx). A
-- later migration that drops or replaces an index by name then missed it: on a database
-- rebuilt before 0004 or 0013, the indexes those migrations dropped are still there, under
-- their generated names, kept on every write and read by nothing. Here: primary keys get
-- their names back; every index a rebuild named is dropped, and the current ones made again
-- under their own names (as 0002, 0004, 0011 and 0013 define them). Indexes an operator
-- added under another name are left alone. A rebuild now keeps the live names
-- (projections/postgres/rebuild.py), so this runs once.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT con.conrelid::regclass::text AS table_name, con.conname
        FROM pg_constraint con
        WHERE con.contype = 'p'
          AND con.conrelid IN ('asset_state'::regclass, 'kpi_monthly'::regclass,
                               'carbon_savings'::regclass)
          AND con.conname <> con.conrelid::regclass::text || '_pkey'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I',
                       r.table_name, r.conname, r.table_name || '_pkey');
    END LOOP;
    FOR r IN
        SELECT i.relname AS index_name
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE x.indrelid IN ('asset_state'::regclass, 'kpi_monthly'::regclass,
                             'carbon_savings'::regclass, 'asset_counts'::regclass)
          AND NOT x.indisprimary
          -- the names LIKE ... INCLUDING ALL gave: the fresh table's name, then the columns
          AND i.relname LIKE t.relname || '\_rebuild\_%'
    LOOP
        EXECUTE format('DROP INDEX %I', r.index_name);
    END LOOP;
END
$$;

CREATE INDEX IF NOT EXISTS carbon_savings_month_idx ON carbon_savings (tenant_id, month);
CREATE INDEX IF NOT EXISTS asset_state_ended_cover_idx
    ON asset_state (tenant_id, ended_at) INCLUDE (purchased_at, category, supplier, org_unit);
CREATE INDEX IF NOT EXISTS asset_state_offers_idx ON asset_state (tenant_id)
    WHERE offers <> '[]'::jsonb;
CREATE INDEX IF NOT EXISTS asset_state_in_use_purchase_idx
    ON asset_state (tenant_id, category, purchased_at) WHERE status = 'in_use';
CREATE UNIQUE INDEX IF NOT EXISTS asset_counts_key
    ON asset_counts (tenant_id, category, status, (COALESCE(purchase_month, '-infinity'::date)));
