-- Audit entries as their unit of work appends them: the content only, one index (the id, so
-- that the linker's batches, oldest first, never scan a backlog), no lock (one narrow insert in
-- the change's transaction). The linker (the worker, and every read of the
-- log) moves them into audit_log in batches, one linker at a time (an advisory lock), numbering
-- and hashing each after its chain's head: ADR 0010.
CREATE TABLE audit_inbox (
    id               uuid        PRIMARY KEY,
    chain            uuid        NOT NULL,
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
    request_id       text
);
