-- The VPS fleet (super-admin managed). Host keys are pinned at the administrator's request and
-- checked strictly afterwards.
CREATE TABLE vps_servers (
    id                  uuid        PRIMARY KEY,
    hostname            text        NOT NULL CONSTRAINT vps_servers_hostname_key UNIQUE,
    ip_address          text        NOT NULL,
    ssh_port            integer     NOT NULL CONSTRAINT vps_servers_port_check CHECK (ssh_port BETWEEN 1 AND 65535),
    ssh_user            text        NOT NULL,
    provider            text        NOT NULL,
    region              text,
    cpu_cores           integer     NOT NULL CONSTRAINT vps_servers_cpu_check CHECK (cpu_cores >= 1),
    memory_mb           integer     NOT NULL CONSTRAINT vps_servers_memory_check CHECK (memory_mb >= 256),
    disk_gb             integer     NOT NULL CONSTRAINT vps_servers_disk_check CHECK (disk_gb >= 1),
    allocation          text        NOT NULL CONSTRAINT vps_servers_allocation_check CHECK (allocation IN ('shared', 'dedicated')),
    dedicated_tenant_id uuid,
    max_sites           integer     NOT NULL CONSTRAINT vps_servers_max_sites_check CHECK (max_sites >= 0),
    host_key            text,
    status              text        NOT NULL DEFAULT 'active'
                        CONSTRAINT vps_servers_status_check CHECK (status IN ('active', 'maintenance', 'decommissioned')),
    health              text        NOT NULL DEFAULT 'unknown'
                        CONSTRAINT vps_servers_health_check CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unreachable', 'unknown')),
    health_reason       text,
    health_checked_at   timestamptz,
    agent_version       text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
