-- The audit log (team context): every state-changing action, appended in the same transaction
-- as the change, as one hash chain per organization (chain = organization id; the nil uuid is
-- the operators' chain). Each row carries the SHA-256 of the previous row of its chain and its
-- own (see chom_kernel::audit::link_hash), so an edited, deleted or reordered row is detected.
-- No foreign keys: the record outlives what it talks about.
CREATE TABLE audit_log (
    id               uuid        PRIMARY KEY,
    chain            uuid        NOT NULL,
    seq              bigint      NOT NULL,
    occurred_at      timestamptz NOT NULL,
    organization_id  uuid,
    tenant_id        uuid,
    actor_id         uuid,
    actor_kind       text        NOT NULL,
    action           text        NOT NULL,
    target_type      text        NOT NULL,
    target_id        text,
    summary          text        NOT NULL,
    client_addr      text,
    user_agent       text,
    request_id       text,
    prev_hash        text        NOT NULL,
    hash             text        NOT NULL,
    CONSTRAINT audit_log_chain_seq_key UNIQUE (chain, seq)
);
CREATE INDEX audit_log_chain_id_idx ON audit_log (chain, id);

-- The head of each chain: the last entry's number and hash. Appends lock this row, so two
-- concurrent transactions never link to the same predecessor (no fork); verification compares
-- it with the last row, so deleting the newest entries is detected too.
CREATE TABLE audit_heads (
    id    uuid   PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  text   NOT NULL
);
