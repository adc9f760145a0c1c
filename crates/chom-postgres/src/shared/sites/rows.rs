//! How sites and operations are stored: column lists, row mappers, and the tenant-scoped read
//! of one live site.

use crate::codec::{Db, DbRow, get, get_id, get_opt_id, get_opt_ts, get_ts, id};
use crate::shared::exec::{corrupt, fetch_opt};
use chom_agent_protocol::{Domain, PhpVersion, SiteType};
use chom_kernel::{OperationId, SiteId, StoreError, TenantId, VpsId};
use chom_site_hosting::model::{Operation, OperationStatus, Site, SiteStatus, Step};

/// The columns [`site`] reads.
macro_rules! site_columns {
    () => {
        "id, tenant_id, vps_id, domain, site_type, php_version, status, status_reason, \
         suspended_active, ssl_requested, ssl_enabled, ssl_expires_at, db_name, db_user, \
         db_password_sealed, storage_used_mb, created_at, updated_at, deleted_at"
    };
}
pub(super) use site_columns;

/// The columns [`operation`] reads.
macro_rules! op_columns {
    () => {
        "id, tenant_id, site_id, kind, status, steps, error, created_at, updated_at"
    };
}
pub(super) use op_columns;

pub(super) fn site(row: &DbRow) -> Result<Site, StoreError> {
    Ok(Site {
        id: SiteId::from_uuid(get_id(row, "id")?),
        tenant_id: TenantId::from_uuid(get_id(row, "tenant_id")?),
        vps_id: VpsId::from_uuid(get_id(row, "vps_id")?),
        domain: Domain::parse(&get::<String>(row, "domain")?).map_err(|e| corrupt(e.0))?,
        site_type: SiteType::parse(&get::<String>(row, "site_type")?).map_err(|e| corrupt(e.0))?,
        php_version: PhpVersion::parse(&get::<String>(row, "php_version")?)
            .map_err(|e| corrupt(e.0))?,
        status: SiteStatus::parse(&get::<String>(row, "status")?)?,
        status_reason: get(row, "status_reason")?,
        suspended_active: get(row, "suspended_active")?,
        ssl_requested: get(row, "ssl_requested")?,
        ssl_enabled: get(row, "ssl_enabled")?,
        ssl_expires_at: get_opt_ts(row, "ssl_expires_at")?,
        db_name: get(row, "db_name")?,
        db_user: get(row, "db_user")?,
        db_password_sealed: get(row, "db_password_sealed")?,
        storage_used_mb: get(row, "storage_used_mb")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        deleted_at: get_opt_ts(row, "deleted_at")?,
    })
}

pub(super) fn operation(row: &DbRow) -> Result<Operation, StoreError> {
    let steps: Vec<Step> = serde_json::from_str(&get::<String>(row, "steps")?).map_err(corrupt)?;
    Ok(Operation {
        id: OperationId::from_uuid(get_id(row, "id")?),
        tenant_id: TenantId::from_uuid(get_id(row, "tenant_id")?),
        site_id: get_opt_id(row, "site_id")?.map(SiteId::from_uuid),
        kind: get(row, "kind")?,
        status: OperationStatus::parse(&get::<String>(row, "status")?)?,
        steps,
        error: get(row, "error")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

pub(super) fn steps_json(op: &Operation) -> Result<String, StoreError> {
    serde_json::to_string(&op.steps).map_err(|e| StoreError::Unexpected(e.into()))
}

pub(super) fn like_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A live site of `tenant`, through any connection (the pool, or a unit's transaction).
pub(super) async fn find_site<'e, E>(
    exec: E,
    tenant: TenantId,
    site_id: SiteId,
) -> Result<Option<Site>, StoreError>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let select = sqlx::query(concat!(
        "SELECT ",
        site_columns!(),
        " FROM sites WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    ))
    .bind(id(tenant.as_uuid()))
    .bind(id(site_id.as_uuid()));
    fetch_opt(select, exec, site).await
}
