-- The plan catalogue (tiers). NULL limits mean unlimited.
CREATE TABLE plans (
    code                  TEXT    PRIMARY KEY NOT NULL
                          CHECK (length(code) BETWEEN 1 AND 50 AND code NOT GLOB '*[^a-z0-9-]*'),
    name                  TEXT    NOT NULL,
    price_monthly_cents   INTEGER NOT NULL CHECK (price_monthly_cents >= 0),
    max_sites             INTEGER CHECK (max_sites >= 0),
    max_storage_gb        INTEGER CHECK (max_storage_gb >= 0),
    backup_retention_days INTEGER NOT NULL CHECK (backup_retention_days >= 1),
    is_active             INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at            INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at            INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;

INSERT INTO plans (code, name, price_monthly_cents, max_sites, max_storage_gb, backup_retention_days) VALUES
    ('starter',    'Starter',    2900,    5,   10,  7),
    ('pro',        'Pro',        7900,   25,  100, 30),
    ('enterprise', 'Enterprise', 24900, NULL, NULL, 90);
