-- A marketplace command's event, fixed by its first attempt (services/http/offers.py).
-- The API gives a command's event the time it was first sent. Without this row a retry (same
-- request_id, after a 503 whose event had in fact reached the topic) produced a second copy
-- with a later occurred_at, which the worker dead-lettered as a conflicting duplicate. With
-- it, the retry sends the same event again, and the worker counts it as a duplicate.
-- fingerprint: the command's kind, asset and payload, so a request_id sent again with another
-- command is refused (409) instead of dead-lettered.
CREATE TABLE IF NOT EXISTS marketplace_commands (
    event_id    uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    fingerprint text        NOT NULL,
    occurred_at timestamptz NOT NULL
);
