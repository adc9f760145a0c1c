-- Sites and the operations that change them (SQLite flavour). A site belongs to one tenant and
-- lives on one VPS; a deleted site keeps its row (deleted_at) and frees its domain.
CREATE TABLE sites (
    id                 TEXT        PRIMARY KEY NOT NULL,
    tenant_id          TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    vps_id             TEXT        NOT NULL REFERENCES vps_servers (id),
    domain             TEXT        NOT NULL,
    site_type          TEXT        NOT NULL CONSTRAINT sites_type_check CHECK (site_type IN ('wordpress', 'html', 'laravel')),
    php_version        TEXT        NOT NULL,
    status             TEXT        NOT NULL
                       CONSTRAINT sites_status_check CHECK (status IN ('creating', 'active', 'disabled', 'failed', 'deleting', 'restoring')),
    status_reason      TEXT,
    suspended_active   INTEGER     NOT NULL DEFAULT 0,
    ssl_requested      INTEGER     NOT NULL DEFAULT 0,
    ssl_enabled        INTEGER     NOT NULL DEFAULT 0,
    ssl_expires_at     INTEGER,
    db_name            TEXT,
    db_user            TEXT,
    db_password_sealed TEXT,
    storage_used_mb    INTEGER     NOT NULL DEFAULT 0,
    created_at         INTEGER     NOT NULL,
    updated_at         INTEGER     NOT NULL,
    deleted_at         INTEGER
) STRICT;
CREATE UNIQUE INDEX sites_tenant_domain_key ON sites (tenant_id, domain) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX sites_vps_domain_key ON sites (vps_id, domain) WHERE deleted_at IS NULL;
CREATE INDEX sites_tenant_idx ON sites (tenant_id, id) WHERE deleted_at IS NULL;
CREATE INDEX sites_vps_idx ON sites (vps_id) WHERE deleted_at IS NULL;
CREATE INDEX sites_ssl_expiry_idx ON sites (ssl_expires_at) WHERE ssl_enabled = 1 AND deleted_at IS NULL;

CREATE TABLE operations (
    id          TEXT        PRIMARY KEY NOT NULL,
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    site_id     TEXT        REFERENCES sites (id) ON DELETE CASCADE,
    kind        TEXT        NOT NULL,
    status      TEXT        NOT NULL
                CONSTRAINT operations_status_check CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    steps       TEXT        NOT NULL,
    -- The job carrying it out: an operation whose job died unfinished is failed by the reaper.
    job_id      TEXT,
    error       TEXT,
    created_at  INTEGER     NOT NULL,
    updated_at  INTEGER     NOT NULL
) STRICT;
CREATE INDEX operations_site_idx ON operations (site_id, status);
CREATE INDEX operations_tenant_idx ON operations (tenant_id, id);
CREATE INDEX operations_open_idx ON operations (status) WHERE status IN ('pending', 'running');
