-- Each site's backup schedule (backup context). One row per site, only once saved: a site
-- without one answers the default (daily at 03:00 UTC, disabled). tenant_id is the site's,
-- repeated so every query of tenant data filters on it.
CREATE TABLE backup_schedules (
    site_id    uuid        PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    frequency  text        NOT NULL
               CONSTRAINT backup_schedules_frequency_check CHECK (frequency IN ('daily', 'weekly')),
    hour       integer     NOT NULL CONSTRAINT backup_schedules_hour_check CHECK (hour BETWEEN 0 AND 23),
    -- Weekly schedules only.
    weekday    text
               CONSTRAINT backup_schedules_weekday_check CHECK (
                   (frequency = 'weekly' AND weekday IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))
                   OR (frequency = 'daily' AND weekday IS NULL)),
    time_zone  text        NOT NULL,
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX backup_schedules_tenant_idx ON backup_schedules (tenant_id, site_id);
