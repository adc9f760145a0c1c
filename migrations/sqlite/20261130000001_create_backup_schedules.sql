-- Each site's backup schedule (backup context; SQLite flavour). One row per site, only once
-- saved; tenant_id is the site's, repeated so every query of tenant data filters on it.
CREATE TABLE backup_schedules (
    site_id    TEXT        PRIMARY KEY NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    tenant_id  TEXT        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    frequency  TEXT        NOT NULL
               CONSTRAINT backup_schedules_frequency_check CHECK (frequency IN ('daily', 'weekly')),
    hour       INTEGER     NOT NULL CONSTRAINT backup_schedules_hour_check CHECK (hour BETWEEN 0 AND 23),
    weekday    TEXT
               CONSTRAINT backup_schedules_weekday_check CHECK (
                   (frequency = 'weekly' AND weekday IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))
                   OR (frequency = 'daily' AND weekday IS NULL)),
    time_zone  TEXT        NOT NULL,
    enabled    INTEGER     NOT NULL,
    updated_at INTEGER     NOT NULL
) STRICT;
CREATE INDEX backup_schedules_tenant_idx ON backup_schedules (tenant_id, site_id);
