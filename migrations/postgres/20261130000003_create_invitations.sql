-- Team context: invitations by e-mail and ownership transfers; seats per plan.
--
-- An invitation's token is minted when its e-mail is sent (the job, never the queue, sees it)
-- and stored as SHA-256; sending again replaces it (the older link dies) and restarts the
-- 7 days. At most one open (neither accepted nor revoked) invitation per address and
-- organization.
CREATE TABLE invitations (
    id               uuid        PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email            text        NOT NULL,
    role             text        NOT NULL CONSTRAINT invitations_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    invited_by       uuid        REFERENCES users (id) ON DELETE SET NULL,
    token_hash       bytea       CONSTRAINT invitations_token_hash_key UNIQUE,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    send_count       integer     NOT NULL DEFAULT 0,
    accepted_at      timestamptz,
    accepted_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    revoked_at       timestamptz
);
CREATE UNIQUE INDEX invitations_open_email_key ON invitations (organization_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_organization_idx ON invitations (organization_id, id);

-- A proposed transfer of ownership, waiting for the new owner's confirmation (one per
-- organization; a new proposal replaces the previous one).
CREATE TABLE ownership_transfers (
    organization_id  uuid        PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    from_user        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);

-- Seats: members plus open invitations (NULL: unlimited).
ALTER TABLE plans ADD COLUMN max_members integer CONSTRAINT plans_max_members_check CHECK (max_members >= 1);
UPDATE plans SET max_members = 3 WHERE code = 'starter';
UPDATE plans SET max_members = 10 WHERE code = 'pro';
