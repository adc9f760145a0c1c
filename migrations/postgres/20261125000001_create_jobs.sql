-- The durable job queue. A job row is written in the same transaction as the state change that
-- needs it. Workers lease rows with FOR UPDATE SKIP LOCKED and heartbeat their leases; expired
-- leases are swept back to 'queued' (or 'dead' once the attempts are spent).
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    payload          jsonb       NOT NULL,
    state            text        NOT NULL DEFAULT 'queued'
                     CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL CONSTRAINT jobs_max_attempts_check CHECK (max_attempts >= 1),
    run_at           timestamptz NOT NULL DEFAULT now(),
    unique_key       text        CONSTRAINT jobs_unique_key UNIQUE,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    tenant_id        uuid,
    request_id       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

CREATE INDEX jobs_runnable_idx ON jobs (queue, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases_idx ON jobs (lease_owner, lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_dead_idx ON jobs (finished_at) WHERE state = 'dead';

-- Wake idle workers (LISTEN chom_jobs) once per inserting statement; delivered at commit, so a
-- rolled-back enqueue wakes nobody.
CREATE FUNCTION chom_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chom_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION chom_jobs_notify();
