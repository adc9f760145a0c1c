-- Idempotency-Key records (SQLite flavour): one per (caller, key), where the caller is the
-- bearer token that sent the request. 'in_flight' while the request runs (held by lock_id),
-- then 'completed' with the response to replay; expired rows are purged by prune-jobs.
CREATE TABLE idempotency_keys (
    caller           TEXT        NOT NULL,
    idempotency_key  TEXT        NOT NULL,
    fingerprint      BLOB        NOT NULL,
    state            TEXT        NOT NULL
                     CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'completed')),
    lock_id          TEXT        NOT NULL,
    locked_at        INTEGER     NOT NULL,
    response_status  INTEGER,
    response_headers TEXT,
    response_body    BLOB,
    created_at       INTEGER     NOT NULL,
    expires_at       INTEGER     NOT NULL,
    PRIMARY KEY (caller, idempotency_key),
    CONSTRAINT idempotency_keys_response_check
        CHECK (state = 'in_flight' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
) STRICT;
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
