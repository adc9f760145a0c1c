-- Idempotency-Key records: one per (caller, key), where the caller is the bearer token that
-- sent the request. A row is 'in_flight' while its request runs (held by lock_id, taken over
-- when abandoned), then 'completed' with the response to replay. Expired rows are purged by the
-- prune-jobs periodic job and count as absent before that.
CREATE TABLE idempotency_keys (
    caller           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    -- SHA-256 of method, path and query, X-Tenant-Id and body.
    fingerprint      bytea       NOT NULL,
    state            text        NOT NULL
                     CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'completed')),
    lock_id          uuid        NOT NULL,
    locked_at        timestamptz NOT NULL,
    response_status  integer,
    -- JSON array of [name, value] pairs.
    response_headers text,
    -- Sealed with the application key (the body may hold a secret shown once).
    response_body    bytea,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (caller, idempotency_key),
    CONSTRAINT idempotency_keys_response_check
        CHECK (state = 'in_flight' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
