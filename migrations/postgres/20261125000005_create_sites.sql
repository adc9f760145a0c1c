-- Sites and the operations that change them. A site belongs to one tenant and lives on one VPS;
-- a deleted site keeps its row (deleted_at) for the audit trail, and frees its domain.
CREATE TABLE sites (
    id                 uuid        PRIMARY KEY,
    tenant_id          uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    vps_id             uuid        NOT NULL REFERENCES vps_servers (id),
    domain             text        NOT NULL,
    site_type          text        NOT NULL CONSTRAINT sites_type_check CHECK (site_type IN ('wordpress', 'html', 'laravel')),
    php_version        text        NOT NULL,
    status             text        NOT NULL
                       CONSTRAINT sites_status_check CHECK (status IN ('creating', 'active', 'disabled', 'failed', 'deleting', 'restoring')),
    status_reason      text,
    -- Serving again after a tenant reactivation: set when suspension disabled an active site.
    suspended_active   boolean     NOT NULL DEFAULT false,
    ssl_requested      boolean     NOT NULL DEFAULT false,
    ssl_enabled        boolean     NOT NULL DEFAULT false,
    ssl_expires_at     timestamptz,
    db_name            text,
    db_user            text,
    -- Sealed with the application key (AES-256-GCM), never stored in clear.
    db_password_sealed text,
    storage_used_mb    bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz
);
-- A domain once per tenant, and once per server (the agent's names derive from the domain).
CREATE UNIQUE INDEX sites_tenant_domain_key ON sites (tenant_id, domain) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX sites_vps_domain_key ON sites (vps_id, domain) WHERE deleted_at IS NULL;
CREATE INDEX sites_tenant_idx ON sites (tenant_id, id) WHERE deleted_at IS NULL;
CREATE INDEX sites_vps_idx ON sites (vps_id) WHERE deleted_at IS NULL;
CREATE INDEX sites_ssl_expiry_idx ON sites (ssl_expires_at) WHERE ssl_enabled AND deleted_at IS NULL;

-- Long-running work and its progress (steps as a JSON array), polled and streamed by the API.
CREATE TABLE operations (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    site_id     uuid        REFERENCES sites (id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    status      text        NOT NULL
                CONSTRAINT operations_status_check CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    steps       text        NOT NULL,
    -- The job carrying it out: an operation whose job died unfinished is failed by the reaper.
    job_id      uuid,
    error       text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX operations_site_idx ON operations (site_id, status);
CREATE INDEX operations_tenant_idx ON operations (tenant_id, id);
CREATE INDEX operations_open_idx ON operations (status) WHERE status IN ('pending', 'running');
