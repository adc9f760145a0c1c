-- The audit log (team context; SQLite flavour): one hash chain per organization, see the
-- PostgreSQL migration of the same name. No foreign keys: the record outlives its subjects.
CREATE TABLE audit_log (
    id               TEXT    PRIMARY KEY NOT NULL,
    chain            TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    occurred_at      INTEGER NOT NULL,
    organization_id  TEXT,
    tenant_id        TEXT,
    actor_id         TEXT,
    actor_kind       TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    target_type      TEXT    NOT NULL,
    target_id        TEXT,
    summary          TEXT    NOT NULL,
    client_addr      TEXT,
    user_agent       TEXT,
    request_id       TEXT,
    prev_hash        TEXT    NOT NULL,
    hash             TEXT    NOT NULL,
    CONSTRAINT audit_log_chain_seq_key UNIQUE (chain, seq)
) STRICT;
CREATE INDEX audit_log_chain_id_idx ON audit_log (chain, id);

CREATE TABLE audit_heads (
    id    TEXT    PRIMARY KEY NOT NULL,
    seq   INTEGER NOT NULL,
    hash  TEXT    NOT NULL
) STRICT;
