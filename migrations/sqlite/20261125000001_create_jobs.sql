-- The durable job queue (SQLite flavour). Times are Unix milliseconds (UTC); ids are UUID text.
-- SQLite has a single writer, so one UPDATE … RETURNING claims jobs atomically.
CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY NOT NULL,
    kind             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at           INTEGER NOT NULL,
    unique_key       TEXT    CONSTRAINT jobs_unique_key UNIQUE,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    tenant_id        TEXT,
    request_id       TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
) STRICT;

CREATE INDEX jobs_runnable_idx ON jobs (queue, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases_idx ON jobs (lease_owner, lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_dead_idx ON jobs (finished_at) WHERE state = 'dead';
