-- Room on each page for the new version of a row, so that a batch updating an asset state
-- whose indexed columns did not change (a repair, a reservation: most events) is a
-- heap-only-tuple (HOT) update: no new entries in the four indexes of asset_state. Applies to
-- pages written from now on; a rebuild (kretslopp rebuild) rewrites them all.
-- Measured in bench/pipeline.py's writer row (docs/operations.md, "Performance").
ALTER TABLE asset_state SET (fillfactor = 70);
