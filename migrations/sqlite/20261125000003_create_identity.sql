-- Identity and tenancy (SQLite flavour; times are Unix milliseconds, ids UUID text): users, organizations, tenants, memberships, API tokens, one-time tokens
-- (e-mail verification, password reset), 2FA recovery codes, rejected e-mails.
-- Secrets are never stored in plaintext: tokens and codes as SHA-256, passwords as argon2id,
-- TOTP secrets encrypted (AES-256-GCM) with the application key.

CREATE TABLE organizations (
    id               TEXT        PRIMARY KEY NOT NULL,
    name             TEXT        NOT NULL CONSTRAINT organizations_name_check CHECK (length(name) BETWEEN 1 AND 100),
    status           TEXT        NOT NULL DEFAULT 'active'
                     CONSTRAINT organizations_status_check CHECK (status IN ('active', 'suspended')),
    approval_status  TEXT        NOT NULL DEFAULT 'pending'
                     CONSTRAINT organizations_approval_check CHECK (approval_status IN ('pending', 'approved', 'rejected')),
    approval_reason  TEXT,
    decided_at       INTEGER,
    decided_by       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE tenants (
    id               TEXT        PRIMARY KEY NOT NULL,
    organization_id  TEXT        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT        NOT NULL CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 100),
    is_default       INTEGER     NOT NULL DEFAULT 0,
    status           TEXT        NOT NULL DEFAULT 'active'
                     CONSTRAINT tenants_status_check CHECK (status IN ('active', 'suspended', 'cancelled')),
    plan_code        TEXT        REFERENCES plans (code),
    plan_selected_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX tenants_organization_idx ON tenants (organization_id);
CREATE UNIQUE INDEX tenants_one_default_per_org ON tenants (organization_id) WHERE is_default = 1;

CREATE TABLE users (
    id                  TEXT        PRIMARY KEY NOT NULL,
    username            TEXT        NOT NULL CONSTRAINT users_username_key UNIQUE,
    email               TEXT        NOT NULL CONSTRAINT users_email_key UNIQUE,
    first_name          TEXT        NOT NULL,
    last_name           TEXT        NOT NULL,
    password_hash       TEXT        NOT NULL,
    is_super_admin      INTEGER     NOT NULL DEFAULT 0,
    approval_status     TEXT        NOT NULL DEFAULT 'pending'
                        CONSTRAINT users_approval_check CHECK (approval_status IN ('pending', 'approved', 'rejected')),
    approval_reason     TEXT,
    decided_at          INTEGER,
    decided_by          TEXT,
    email_verified_at   INTEGER,
    password_changed_at INTEGER NOT NULL,
    totp_secret_sealed  TEXT,
    totp_enabled_at     INTEGER,
    totp_last_step      INTEGER,
    last_login_at       INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    user_id          TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  TEXT        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role             TEXT        NOT NULL CONSTRAINT memberships_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (user_id, organization_id)
) STRICT;
CREATE INDEX memberships_organization_idx ON memberships (organization_id);

CREATE TABLE api_tokens (
    id           TEXT        PRIMARY KEY NOT NULL,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    secret_hash  BLOB       NOT NULL,
    abilities    TEXT        NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id) WHERE revoked_at IS NULL;

CREATE TABLE one_time_tokens (
    token_hash  BLOB       PRIMARY KEY,
    purpose     TEXT        NOT NULL CONSTRAINT one_time_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id     TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE recovery_codes (
    user_id    TEXT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE rejected_emails (
    email        TEXT        PRIMARY KEY,
    reason       TEXT        NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    rejected_at  INTEGER NOT NULL
) STRICT;
