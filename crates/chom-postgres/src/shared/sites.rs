//! Sites and operations (site-hosting ports). Every read of a tenant's data carries
//! `tenant_id = $1`.

use crate::codec::{get, get_id, id, lock_row, ts};
use crate::shared::exec::{execute, execute_one, fetch_all, fetch_one, fetch_opt, tx};
use async_trait::async_trait;
use chom_agent_protocol::SiteType;
use chom_kernel::jobs::JobState;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{JobId, OperationId, SiteId, StoreError, TenantId, VpsId};
use chom_site_hosting::model::{Operation, OperationStatus, Site, SiteStatus};
use chom_site_hosting::ports::{SiteFilter, SiteRepository, VpsLoad};
use sqlx::PgPool;
use time::OffsetDateTime;

mod rows;

use rows::{find_site, like_pattern, op_columns, operation, site, site_columns, steps_json};

/// The sites repository.
#[derive(Debug, Clone)]
pub struct PgSites {
    pool: PgPool,
}

impl PgSites {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SiteRepository for PgSites {
    async fn lock_tenant(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        lock_row(tx(uow)?.conn(), "tenants", id(tenant.as_uuid())).await
    }

    async fn count_sites(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
    ) -> Result<i64, StoreError> {
        let count = sqlx::query(
            "SELECT COUNT(*) AS n FROM sites WHERE tenant_id = $1 AND deleted_at IS NULL",
        )
        .bind(id(tenant.as_uuid()));
        fetch_one(count, tx(uow)?.conn(), |r| get(r, "n")).await
    }

    async fn domain_taken(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<bool, StoreError> {
        let count = sqlx::query(
            "SELECT COUNT(*) AS n FROM sites WHERE deleted_at IS NULL
               AND (domain = $1 OR domain = $2 OR 'www.' || domain = $1)",
        )
        .bind(domain)
        .bind(format!("www.{domain}"));
        Ok(fetch_one(count, tx(uow)?.conn(), |r| get::<i64>(r, "n")).await? > 0)
    }

    async fn vps_loads(
        &self,
        uow: &mut dyn UnitOfWork,
        domain: &str,
    ) -> Result<Vec<VpsLoad>, StoreError> {
        let select = sqlx::query(
            "SELECT vps_id, COUNT(*) AS sites,
                    SUM(CASE WHEN domain = $1 THEN 1 ELSE 0 END) AS with_domain
             FROM sites WHERE deleted_at IS NULL GROUP BY vps_id",
        )
        .bind(domain);
        fetch_all(select, tx(uow)?.conn(), |r| {
            Ok(VpsLoad {
                vps_id: VpsId::from_uuid(get_id(r, "vps_id")?),
                sites: get(r, "sites")?,
                hosts_domain: get::<i64>(r, "with_domain")? > 0,
            })
        })
        .await
    }

    async fn lock_vps_load(&self, uow: &mut dyn UnitOfWork, vps: VpsId) -> Result<i64, StoreError> {
        let conn = tx(uow)?.conn();
        lock_row(&mut *conn, "vps_servers", id(vps.as_uuid())).await?;
        let count =
            sqlx::query("SELECT COUNT(*) AS n FROM sites WHERE vps_id = $1 AND deleted_at IS NULL")
                .bind(id(vps.as_uuid()));
        fetch_one(count, conn, |r| get(r, "n")).await
    }

    async fn insert_site(&self, uow: &mut dyn UnitOfWork, s: &Site) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO sites (id, tenant_id, vps_id, domain, site_type, php_version, status, status_reason,
                 suspended_active, ssl_requested, ssl_enabled, ssl_expires_at, db_name, db_user,
                 db_password_sealed, storage_used_mb, created_at, updated_at, deleted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(id(s.id.as_uuid()))
        .bind(id(s.tenant_id.as_uuid()))
        .bind(id(s.vps_id.as_uuid()))
        .bind(s.domain.as_str())
        .bind(s.site_type.as_str())
        .bind(s.php_version.as_str())
        .bind(s.status.as_str())
        .bind(&s.status_reason)
        .bind(s.suspended_active)
        .bind(s.ssl_requested)
        .bind(s.ssl_enabled)
        .bind(s.ssl_expires_at.map(ts))
        .bind(&s.db_name)
        .bind(&s.db_user)
        .bind(&s.db_password_sealed)
        .bind(s.storage_used_mb)
        .bind(ts(s.created_at))
        .bind(ts(s.updated_at))
        .bind(s.deleted_at.map(ts));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn update_site(&self, uow: &mut dyn UnitOfWork, s: &Site) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE sites SET php_version = $3, status = $4, status_reason = $5, suspended_active = $6,
                 ssl_enabled = $7, ssl_expires_at = $8, db_name = $9, db_user = $10, db_password_sealed = $11,
                 storage_used_mb = $12, updated_at = $13, deleted_at = $14
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(id(s.tenant_id.as_uuid()))
        .bind(id(s.id.as_uuid()))
        .bind(s.php_version.as_str())
        .bind(s.status.as_str())
        .bind(&s.status_reason)
        .bind(s.suspended_active)
        .bind(s.ssl_enabled)
        .bind(s.ssl_expires_at.map(ts))
        .bind(&s.db_name)
        .bind(&s.db_user)
        .bind(&s.db_password_sealed)
        .bind(s.storage_used_mb)
        .bind(ts(s.updated_at))
        .bind(s.deleted_at.map(ts));
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn get_site(
        &self,
        tenant: TenantId,
        site_id: SiteId,
    ) -> Result<Option<Site>, StoreError> {
        find_site(&self.pool, tenant, site_id).await
    }

    async fn lock_site(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        site_id: SiteId,
    ) -> Result<Option<Site>, StoreError> {
        let conn = tx(uow)?.conn();
        lock_row(&mut *conn, "sites", id(site_id.as_uuid())).await?;
        find_site(conn, tenant, site_id).await
    }

    async fn list_sites(&self, tenant: TenantId, f: &SiteFilter) -> Result<Vec<Site>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            site_columns!(),
            " FROM sites
             WHERE tenant_id = $1 AND deleted_at IS NULL
               AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR site_type = $3)
               AND ($4 IS NULL OR domain LIKE $4 ESCAPE '\\')
               AND ($5 IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6"
        ))
        .bind(id(tenant.as_uuid()))
        .bind(f.status.map(SiteStatus::as_str))
        .bind(f.site_type.map(SiteType::as_str))
        .bind(f.search.as_deref().map(like_pattern))
        .bind(f.before.map(|b| id(b.as_uuid())))
        .bind(f.limit);
        fetch_all(select, &self.pool, site).await
    }

    async fn ssl_expiring(&self, before: OffsetDateTime) -> Result<Vec<Site>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            site_columns!(),
            " FROM sites
             WHERE ssl_enabled = $1 AND deleted_at IS NULL AND ssl_expires_at < $2
             ORDER BY ssl_expires_at"
        ))
        .bind(true)
        .bind(ts(before));
        fetch_all(select, &self.pool, site).await
    }

    async fn live_sites(&self, after: Option<SiteId>, limit: i64) -> Result<Vec<Site>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            site_columns!(),
            " FROM sites
             WHERE deleted_at IS NULL AND ($1 IS NULL OR id > $1)
             ORDER BY id LIMIT $2"
        ))
        .bind(after.map(|a| id(a.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, site).await
    }

    async fn insert_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
        job: Option<JobId>,
    ) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO operations (id, tenant_id, site_id, kind, status, steps, error, created_at, updated_at, job_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id(op.id.as_uuid()))
        .bind(id(op.tenant_id.as_uuid()))
        .bind(op.site_id.map(|s| id(s.as_uuid())))
        .bind(&op.kind)
        .bind(op.status.as_str())
        .bind(steps_json(op)?)
        .bind(&op.error)
        .bind(ts(op.created_at))
        .bind(ts(op.updated_at))
        .bind(job.map(|j| id(j.as_uuid())));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn record_storage(
        &self,
        tenant: TenantId,
        site_id: SiteId,
        mb: i64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE sites SET storage_used_mb = $3, updated_at = $4
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(id(tenant.as_uuid()))
        .bind(id(site_id.as_uuid()))
        .bind(mb)
        .bind(ts(at));
        execute(update, &self.pool).await.map(drop)
    }

    async fn abandoned_operations(&self, limit: i64) -> Result<Vec<Operation>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            op_columns!(),
            " FROM operations o
             WHERE o.status IN ($1, $2)
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.state IN ($3, $4))
             ORDER BY o.id LIMIT $5"
        ))
        .bind(OperationStatus::Pending.as_str())
        .bind(OperationStatus::Running.as_str())
        .bind(JobState::Queued.as_str())
        .bind(JobState::Running.as_str())
        .bind(limit);
        fetch_all(select, &self.pool, operation).await
    }

    async fn save_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE operations SET status = $3, steps = $4, error = $5, updated_at = $6
             WHERE tenant_id = $1 AND id = $2 AND status IN ($7, $8)",
        )
        .bind(id(op.tenant_id.as_uuid()))
        .bind(id(op.id.as_uuid()))
        .bind(op.status.as_str())
        .bind(steps_json(op)?)
        .bind(&op.error)
        .bind(ts(op.updated_at))
        .bind(OperationStatus::Pending.as_str())
        .bind(OperationStatus::Running.as_str());
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn get_operation(
        &self,
        tenant: TenantId,
        op_id: OperationId,
    ) -> Result<Option<Operation>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            op_columns!(),
            " FROM operations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(id(tenant.as_uuid()))
        .bind(id(op_id.as_uuid()));
        fetch_opt(select, &self.pool, operation).await
    }

    async fn list_operations(
        &self,
        tenant: TenantId,
        site_id: SiteId,
        before: Option<OperationId>,
        limit: i64,
    ) -> Result<Vec<Operation>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            op_columns!(),
            " FROM operations
             WHERE tenant_id = $1 AND site_id = $2 AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(id(tenant.as_uuid()))
        .bind(id(site_id.as_uuid()))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, operation).await
    }

    async fn active_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        site_id: SiteId,
    ) -> Result<Option<OperationId>, StoreError> {
        let select = sqlx::query(
            "SELECT id FROM operations WHERE site_id = $1 AND status IN ($2, $3) LIMIT 1",
        )
        .bind(id(site_id.as_uuid()))
        .bind(OperationStatus::Pending.as_str())
        .bind(OperationStatus::Running.as_str());
        fetch_opt(select, tx(uow)?.conn(), |r| {
            Ok(OperationId::from_uuid(get_id(r, "id")?))
        })
        .await
    }
}
