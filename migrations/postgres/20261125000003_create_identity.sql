-- Identity and tenancy: users, organizations, tenants, memberships, API tokens, one-time tokens
-- (e-mail verification, password reset), 2FA recovery codes, rejected e-mails.
-- Secrets are never stored in plaintext: tokens and codes as SHA-256, passwords as argon2id,
-- TOTP secrets encrypted (AES-256-GCM) with the application key.

CREATE TABLE organizations (
    id               uuid        PRIMARY KEY,
    name             text        NOT NULL CONSTRAINT organizations_name_check CHECK (length(name) BETWEEN 1 AND 100),
    status           text        NOT NULL DEFAULT 'active'
                     CONSTRAINT organizations_status_check CHECK (status IN ('active', 'suspended')),
    approval_status  text        NOT NULL DEFAULT 'pending'
                     CONSTRAINT organizations_approval_check CHECK (approval_status IN ('pending', 'approved', 'rejected')),
    approval_reason  text,
    decided_at       timestamptz,
    decided_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id               uuid        PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text        NOT NULL CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 100),
    is_default       boolean     NOT NULL DEFAULT false,
    status           text        NOT NULL DEFAULT 'active'
                     CONSTRAINT tenants_status_check CHECK (status IN ('active', 'suspended', 'cancelled')),
    plan_code        text        REFERENCES plans (code),
    plan_selected_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_organization_idx ON tenants (organization_id);
CREATE UNIQUE INDEX tenants_one_default_per_org ON tenants (organization_id) WHERE is_default;

CREATE TABLE users (
    id                  uuid        PRIMARY KEY,
    username            text        NOT NULL CONSTRAINT users_username_key UNIQUE,
    email               text        NOT NULL CONSTRAINT users_email_key UNIQUE,
    first_name          text        NOT NULL,
    last_name           text        NOT NULL,
    password_hash       text        NOT NULL,
    is_super_admin      boolean     NOT NULL DEFAULT false,
    approval_status     text        NOT NULL DEFAULT 'pending'
                        CONSTRAINT users_approval_check CHECK (approval_status IN ('pending', 'approved', 'rejected')),
    approval_reason     text,
    decided_at          timestamptz,
    decided_by          uuid,
    email_verified_at   timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    totp_secret_sealed  text,
    totp_enabled_at     timestamptz,
    totp_last_step      bigint,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role             text        NOT NULL CONSTRAINT memberships_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, organization_id)
);
CREATE INDEX memberships_organization_idx ON memberships (organization_id);

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    abilities    text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id) WHERE revoked_at IS NULL;

CREATE TABLE one_time_tokens (
    token_hash  bytea       PRIMARY KEY,
    purpose     text        NOT NULL CONSTRAINT one_time_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE recovery_codes (
    user_id    uuid  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE rejected_emails (
    email        text        PRIMARY KEY,
    reason       text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);
