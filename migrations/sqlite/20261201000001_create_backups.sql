-- Backups (backup context; SQLite flavour). See the PostgreSQL migration.
CREATE TABLE backups (
    id                  TEXT    PRIMARY KEY NOT NULL,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    site_id             TEXT    NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind                TEXT    NOT NULL
                        CONSTRAINT backups_kind_check CHECK (kind IN ('full', 'files', 'database')),
    status              TEXT    NOT NULL
                        CONSTRAINT backups_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed', 'expired')),
    trigger             TEXT    NOT NULL
                        CONSTRAINT backups_trigger_check CHECK (trigger IN ('manual', 'scheduled')),
    operation_id        TEXT,
    parts               TEXT,
    manifest_sha256     TEXT,
    file_count          INTEGER,
    total_bytes         INTEGER,
    added_bytes         INTEGER,
    tables              TEXT,
    error               TEXT,
    expires_at          INTEGER,
    verification        TEXT
                        CONSTRAINT backups_verification_check CHECK (verification IN ('passed', 'failed')),
    verified_at         INTEGER,
    verification_detail TEXT,
    created_at          INTEGER NOT NULL,
    finished_at         INTEGER
) STRICT;
CREATE INDEX backups_tenant_idx ON backups (tenant_id, id);
CREATE INDEX backups_site_idx ON backups (site_id, created_at);

CREATE TABLE backup_repositories (
    site_id         TEXT    PRIMARY KEY NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    password_sealed TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
