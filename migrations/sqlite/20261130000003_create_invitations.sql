-- Team context (SQLite flavour): invitations, ownership transfers, seats per plan. See the
-- PostgreSQL migration of the same name.
CREATE TABLE invitations (
    id               TEXT    PRIMARY KEY NOT NULL,
    organization_id  TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email            TEXT    NOT NULL,
    role             TEXT    NOT NULL CONSTRAINT invitations_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    invited_by       TEXT    REFERENCES users (id) ON DELETE SET NULL,
    token_hash       BLOB    CONSTRAINT invitations_token_hash_key UNIQUE,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    send_count       INTEGER NOT NULL DEFAULT 0,
    accepted_at      INTEGER,
    accepted_by      TEXT    REFERENCES users (id) ON DELETE SET NULL,
    revoked_at       INTEGER
) STRICT;
CREATE UNIQUE INDEX invitations_open_email_key ON invitations (organization_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_organization_idx ON invitations (organization_id, id);

CREATE TABLE ownership_transfers (
    organization_id  TEXT    PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    from_user        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;

ALTER TABLE plans ADD COLUMN max_members INTEGER CONSTRAINT plans_max_members_check CHECK (max_members >= 1);
UPDATE plans SET max_members = 3 WHERE code = 'starter';
UPDATE plans SET max_members = 10 WHERE code = 'pro';
