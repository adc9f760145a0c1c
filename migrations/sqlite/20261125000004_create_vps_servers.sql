-- The VPS fleet (SQLite flavour) (super-admin managed). Host keys are pinned at the administrator's request and
-- checked strictly afterwards.
CREATE TABLE vps_servers (
    id                  TEXT        PRIMARY KEY NOT NULL,
    hostname            TEXT        NOT NULL CONSTRAINT vps_servers_hostname_key UNIQUE,
    ip_address          TEXT        NOT NULL,
    ssh_port            INTEGER     NOT NULL CONSTRAINT vps_servers_port_check CHECK (ssh_port BETWEEN 1 AND 65535),
    ssh_user            TEXT        NOT NULL,
    provider            TEXT        NOT NULL,
    region              TEXT,
    cpu_cores           INTEGER     NOT NULL CONSTRAINT vps_servers_cpu_check CHECK (cpu_cores >= 1),
    memory_mb           INTEGER     NOT NULL CONSTRAINT vps_servers_memory_check CHECK (memory_mb >= 256),
    disk_gb             INTEGER     NOT NULL CONSTRAINT vps_servers_disk_check CHECK (disk_gb >= 1),
    allocation          TEXT        NOT NULL CONSTRAINT vps_servers_allocation_check CHECK (allocation IN ('shared', 'dedicated')),
    dedicated_tenant_id TEXT,
    max_sites           INTEGER     NOT NULL CONSTRAINT vps_servers_max_sites_check CHECK (max_sites >= 0),
    host_key            TEXT,
    status              TEXT        NOT NULL DEFAULT 'active'
                        CONSTRAINT vps_servers_status_check CHECK (status IN ('active', 'maintenance', 'decommissioned')),
    health              TEXT        NOT NULL DEFAULT 'unknown'
                        CONSTRAINT vps_servers_health_check CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unreachable', 'unknown')),
    health_reason       TEXT,
    health_checked_at   INTEGER,
    agent_version       TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
