-- The plan catalogue (tiers). NULL limits mean unlimited.
CREATE TABLE plans (
    code                  text        PRIMARY KEY
                          CONSTRAINT plans_code_check CHECK (code ~ '^[a-z0-9-]{1,50}$'),
    name                  text        NOT NULL,
    price_monthly_cents   bigint      NOT NULL CONSTRAINT plans_price_check CHECK (price_monthly_cents >= 0),
    max_sites             integer     CONSTRAINT plans_max_sites_check CHECK (max_sites >= 0),
    max_storage_gb        integer     CONSTRAINT plans_max_storage_check CHECK (max_storage_gb >= 0),
    backup_retention_days integer     NOT NULL CONSTRAINT plans_retention_check CHECK (backup_retention_days >= 1),
    is_active             boolean     NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans (code, name, price_monthly_cents, max_sites, max_storage_gb, backup_retention_days) VALUES
    ('starter',    'Starter',    2900,    5,   10,  7),
    ('pro',        'Pro',        7900,   25,  100, 30),
    ('enterprise', 'Enterprise', 24900, NULL, NULL, 90);
