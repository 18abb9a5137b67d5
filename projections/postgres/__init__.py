"""Every SQL statement on kretslopp's tables, and nothing else: PostgreSQL at the edge.

- ``connection``: pools, connections with the JSON codecs, and ``migrated`` (open, migrate,
  close: the one way commands get a connection);
- ``migrate`` and ``migrations/``: the versioned schema;
- ``checkpoints``: the one home of the per-partition checkpoint (read, lock, advance, reset);
- ``locks``: which transaction may touch an asset, a tenant's KPIs or the factor model;
- ``writer``: one batch in one transaction; ``kpi_store``: KPI aggregates and saving rows;
- ``rebuild``: refold everything from the event log;
- ``reads``: every read the API, the reports and the CLI make of the projections.

The modules beside this package (``projections.asset_state``, ``kpi_facts``, ``csrd``, ...)
are pure: they import nothing from here (checked by import-linter).
"""
