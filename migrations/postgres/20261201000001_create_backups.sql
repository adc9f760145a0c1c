-- Backups (backup context): one row per run of the agent's backup.create on a site; its
-- snapshots live in the site's restic repository. tenant_id is the site's, repeated so every
-- query of tenant data filters on it.
CREATE TABLE backups (
    id                  uuid        PRIMARY KEY,
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    site_id             uuid        NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind                text        NOT NULL
                        CONSTRAINT backups_kind_check CHECK (kind IN ('full', 'files', 'database')),
    status              text        NOT NULL
                        CONSTRAINT backups_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed', 'expired')),
    trigger             text        NOT NULL
                        CONSTRAINT backups_trigger_check CHECK (trigger IN ('manual', 'scheduled')),
    operation_id        uuid,
    -- Once completed: the snapshots (JSON array of {part, snapshot}), the manifest's SHA-256,
    -- what the tree held, what the repository grew by, rows per table (JSON object).
    parts               text,
    manifest_sha256     text,
    file_count          bigint,
    total_bytes         bigint,
    added_bytes         bigint,
    tables              text,
    error               text,
    expires_at          timestamptz,
    verification        text
                        CONSTRAINT backups_verification_check CHECK (verification IN ('passed', 'failed')),
    verified_at         timestamptz,
    verification_detail text,
    created_at          timestamptz NOT NULL,
    finished_at         timestamptz
);
CREATE INDEX backups_tenant_idx ON backups (tenant_id, id);
CREATE INDEX backups_site_idx ON backups (site_id, created_at);

-- Each site's repository password (restic's encryption), sealed with the application key; made
-- on the site's first backup.
CREATE TABLE backup_repositories (
    site_id         uuid        PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    password_sealed text        NOT NULL,
    created_at      timestamptz NOT NULL
);
