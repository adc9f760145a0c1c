//! The VPS fleet (infrastructure ports).

use crate::codec::{DbRow, get, get_id, get_opt_id, get_opt_ts, get_ts, id, ts};
use crate::shared::exec::{execute, execute_one, fetch_all, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_infrastructure::model::{Allocation, Health, Vps, VpsStatus};
use chom_infrastructure::ports::{SiteRows, VpsRepository};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, TenantId, VpsId};
use sqlx::PgPool;
use time::OffsetDateTime;

/// The fleet repository.
#[derive(Debug, Clone)]
pub struct PgFleet {
    pool: PgPool,
}

impl PgFleet {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

macro_rules! columns {
    () => {
        "id, hostname, ip_address, ssh_port, ssh_user, provider, region, cpu_cores, memory_mb, \
         disk_gb, allocation, dedicated_tenant_id, max_sites, host_key, status, health, \
         health_reason, health_checked_at, agent_version, created_at"
    };
}

fn vps(row: &DbRow) -> Result<Vps, StoreError> {
    let port: i32 = get(row, "ssh_port")?;
    Ok(Vps {
        id: VpsId::from_uuid(get_id(row, "id")?),
        hostname: get(row, "hostname")?,
        ip_address: get(row, "ip_address")?,
        ssh_port: u16::try_from(port).map_err(|e| StoreError::Unexpected(e.into()))?,
        ssh_user: get(row, "ssh_user")?,
        provider: get(row, "provider")?,
        region: get(row, "region")?,
        cpu_cores: get(row, "cpu_cores")?,
        memory_mb: get(row, "memory_mb")?,
        disk_gb: get(row, "disk_gb")?,
        allocation: Allocation::parse(&get::<String>(row, "allocation")?)?,
        dedicated_tenant_id: get_opt_id(row, "dedicated_tenant_id")?.map(TenantId::from_uuid),
        max_sites: get(row, "max_sites")?,
        host_key: get(row, "host_key")?,
        status: VpsStatus::parse(&get::<String>(row, "status")?)?,
        health: Health::parse(&get::<String>(row, "health")?)?,
        health_reason: get(row, "health_reason")?,
        health_checked_at: get_opt_ts(row, "health_checked_at")?,
        agent_version: get(row, "agent_version")?,
        created_at: get_ts(row, "created_at")?,
    })
}

#[async_trait]
impl VpsRepository for PgFleet {
    async fn insert_vps(&self, uow: &mut dyn UnitOfWork, v: &Vps) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO vps_servers (id, hostname, ip_address, ssh_port, ssh_user, provider, region, cpu_cores,
                 memory_mb, disk_gb, allocation, dedicated_tenant_id, max_sites, host_key, status, health,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
        )
        .bind(id(v.id.as_uuid()))
        .bind(&v.hostname)
        .bind(&v.ip_address)
        .bind(i32::from(v.ssh_port))
        .bind(&v.ssh_user)
        .bind(&v.provider)
        .bind(&v.region)
        .bind(v.cpu_cores)
        .bind(v.memory_mb)
        .bind(v.disk_gb)
        .bind(v.allocation.as_str())
        .bind(v.dedicated_tenant_id.map(|t| id(t.as_uuid())))
        .bind(v.max_sites)
        .bind(&v.host_key)
        .bind(v.status.as_str())
        .bind(v.health.as_str())
        .bind(ts(v.created_at));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn update_vps(&self, uow: &mut dyn UnitOfWork, v: &Vps) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE vps_servers SET hostname = $2, ip_address = $3, ssh_port = $4, ssh_user = $5, provider = $6,
                 region = $7, cpu_cores = $8, memory_mb = $9, disk_gb = $10, allocation = $11,
                 dedicated_tenant_id = $12, max_sites = $13, host_key = $14, status = $15, agent_version = $16,
                 updated_at = $17
             WHERE id = $1",
        )
        .bind(id(v.id.as_uuid()))
        .bind(&v.hostname)
        .bind(&v.ip_address)
        .bind(i32::from(v.ssh_port))
        .bind(&v.ssh_user)
        .bind(&v.provider)
        .bind(&v.region)
        .bind(v.cpu_cores)
        .bind(v.memory_mb)
        .bind(v.disk_gb)
        .bind(v.allocation.as_str())
        .bind(v.dedicated_tenant_id.map(|t| id(t.as_uuid())))
        .bind(v.max_sites)
        .bind(&v.host_key)
        .bind(v.status.as_str())
        .bind(&v.agent_version)
        .bind(ts(OffsetDateTime::now_utc()));
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn pin_host_key(
        &self,
        uow: &mut dyn UnitOfWork,
        vps_id: VpsId,
        previous: Option<&str>,
        key: &str,
    ) -> Result<bool, StoreError> {
        let now = ts(OffsetDateTime::now_utc());
        let pin = match previous {
            None => sqlx::query(
                "UPDATE vps_servers SET host_key = $2, updated_at = $3 WHERE id = $1 AND host_key IS NULL",
            )
            .bind(id(vps_id.as_uuid()))
            .bind(key)
            .bind(now),
            Some(previous) => sqlx::query(
                "UPDATE vps_servers SET host_key = $2, updated_at = $3 WHERE id = $1 AND host_key = $4",
            )
            .bind(id(vps_id.as_uuid()))
            .bind(key)
            .bind(now)
            .bind(previous),
        };
        Ok(execute(pin, tx(uow)?.conn()).await? == 1)
    }

    async fn get_vps(&self, vps_id: VpsId) -> Result<Option<Vps>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM vps_servers WHERE id = $1"
        ))
        .bind(id(vps_id.as_uuid()));
        fetch_opt(select, &self.pool, vps).await
    }

    async fn list_vps(&self) -> Result<Vec<Vps>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM vps_servers ORDER BY hostname"
        ));
        fetch_all(select, &self.pool, vps).await
    }

    async fn list_vps_page(
        &self,
        after: Option<VpsId>,
        limit: i64,
    ) -> Result<Vec<Vps>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM vps_servers WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(after.map(|a| id(a.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, vps).await
    }

    async fn tenant_exists(&self, tenant: TenantId) -> Result<bool, StoreError> {
        let count = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE id = $1")
            .bind(id(tenant.as_uuid()));
        Ok(fetch_one(count, &self.pool, |r| get::<i64>(r, "n")).await? > 0)
    }

    async fn site_rows(&self, vps_id: VpsId) -> Result<SiteRows, StoreError> {
        let count = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(deleted_at) AS deleted FROM sites WHERE vps_id = $1",
        )
        .bind(id(vps_id.as_uuid()));
        let (total, deleted): (i64, i64) = fetch_one(count, &self.pool, |r| {
            Ok((get(r, "total")?, get(r, "deleted")?))
        })
        .await?;
        Ok(SiteRows {
            ever: total,
            live: total - deleted,
        })
    }

    async fn delete_vps(
        &self,
        uow: &mut dyn UnitOfWork,
        vps_id: VpsId,
    ) -> Result<bool, StoreError> {
        let delete = sqlx::query(
            "DELETE FROM vps_servers WHERE id = $1 AND status = 'decommissioned'
                 AND NOT EXISTS (SELECT 1 FROM sites WHERE sites.vps_id = vps_servers.id)",
        )
        .bind(id(vps_id.as_uuid()));
        Ok(execute(delete, tx(uow)?.conn()).await? == 1)
    }

    async fn record_health(
        &self,
        vps_id: VpsId,
        health: Health,
        reason: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE vps_servers SET health = $2, health_reason = $3, health_checked_at = $4 WHERE id = $1",
        )
        .bind(id(vps_id.as_uuid()))
        .bind(health.as_str())
        .bind(reason)
        .bind(ts(at));
        execute_one(update, &self.pool).await
    }
}
