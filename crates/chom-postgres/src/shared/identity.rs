//! Identity repositories: `PgIdentity` implements every port of auth and tenancy's identity
//! (one file per port under `identity/`), over the row mappers shared by them here.

use crate::codec::{DbRow, get, get_id, get_opt_ts, get_ts, id, ts};
use crate::shared::exec::{corrupt, execute_one, tx};
use chom_auth::{
    Abilities, ApiToken, ApprovalStatus, EmailAddress, PasswordHash, PersonName, User, Username,
};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use chom_tenancy::PlanCode;
use chom_tenancy::model::{Membership, Organization, OrganizationStatus, Tenant, TenantStatus};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

mod one_time;
mod organizations;
mod recovery;
mod session;
mod tokens;
mod users;

pub use session::SESSION_QUERY;

/// Every identity port on one pool.
#[derive(Debug, Clone)]
pub struct PgIdentity {
    pool: PgPool,
}

impl PgIdentity {
    /// Repositories on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The columns [`user`] reads.
macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, password_hash, is_super_admin, \
         approval_status, approval_reason, email_verified_at, password_changed_at, \
         totp_secret_sealed, totp_enabled_at, totp_last_step, created_at"
    };
}
use user_columns;

/// The columns [`token`] reads (without prefix).
macro_rules! token_columns {
    () => {
        "id, user_id, name, secret_hash, abilities, expires_at, last_used_at, revoked_at, created_at"
    };
}
use token_columns;

/// The columns [`organization`] reads (without prefix).
macro_rules! org_columns {
    () => {
        "id, name, status, approval_status, approval_reason, created_at"
    };
}
use org_columns;

/// The columns [`tenant`] reads (without prefix).
macro_rules! tenant_columns {
    () => {
        "id, organization_id, name, is_default, status, plan_code, plan_selected_at, created_at"
    };
}
use tenant_columns;

/// Runs `sql`, an approval-decision `UPDATE` (`$2` status, `$3` reason, `$4` by, `$5` at) of
/// row `$1`, on exactly one row.
async fn record_decision(
    uow: &mut dyn UnitOfWork,
    sql: &'static str,
    row: Uuid,
    status: ApprovalStatus,
    reason: Option<&str>,
    by: UserId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let update = sqlx::query(sql)
        .bind(id(row))
        .bind(status.as_str())
        .bind(reason)
        .bind(id(by.as_uuid()))
        .bind(ts(at));
    execute_one(update, tx(uow)?.conn()).await
}

fn user(row: &DbRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(get_id(row, "id")?),
        username: Username::parse(&get::<String>(row, "username")?).map_err(corrupt)?,
        email: EmailAddress::parse(&get::<String>(row, "email")?).map_err(corrupt)?,
        first_name: PersonName::parse(&get::<String>(row, "first_name")?).map_err(corrupt)?,
        last_name: PersonName::parse(&get::<String>(row, "last_name")?).map_err(corrupt)?,
        password_hash: PasswordHash::from_stored(get(row, "password_hash")?),
        is_super_admin: get(row, "is_super_admin")?,
        approval: ApprovalStatus::parse(&get::<String>(row, "approval_status")?)?,
        approval_reason: get(row, "approval_reason")?,
        email_verified_at: get_opt_ts(row, "email_verified_at")?,
        password_changed_at: get_ts(row, "password_changed_at")?,
        totp_secret_sealed: get(row, "totp_secret_sealed")?,
        totp_enabled_at: get_opt_ts(row, "totp_enabled_at")?,
        totp_last_step: get(row, "totp_last_step")?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn token(row: &DbRow, prefix: &str) -> Result<ApiToken, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    let hash: Vec<u8> = get(row, &col("secret_hash"))?;
    Ok(ApiToken {
        id: get_id(row, &col("id"))?,
        user_id: UserId::from_uuid(get_id(row, &col("user_id"))?),
        name: get(row, &col("name"))?,
        secret_hash: hash
            .try_into()
            .map_err(|_| corrupt("secret hash is not 32 bytes"))?,
        abilities: Abilities::from_storage(&get::<String>(row, &col("abilities"))?)
            .map_err(corrupt)?,
        expires_at: get_ts(row, &col("expires_at"))?,
        last_used_at: get_opt_ts(row, &col("last_used_at"))?,
        revoked_at: get_opt_ts(row, &col("revoked_at"))?,
        created_at: get_ts(row, &col("created_at"))?,
    })
}

fn organization(row: &DbRow, prefix: &str) -> Result<Organization, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Organization {
        id: OrganizationId::from_uuid(get_id(row, &col("id"))?),
        name: get(row, &col("name"))?,
        status: OrganizationStatus::parse(&get::<String>(row, &col("status"))?)?,
        approval: ApprovalStatus::parse(&get::<String>(row, &col("approval_status"))?)?,
        approval_reason: get(row, &col("approval_reason"))?,
        created_at: get_ts(row, &col("created_at"))?,
    })
}

fn tenant(row: &DbRow, prefix: &str) -> Result<Tenant, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Tenant {
        id: TenantId::from_uuid(get_id(row, &col("id"))?),
        organization_id: OrganizationId::from_uuid(get_id(row, &col("organization_id"))?),
        name: get(row, &col("name"))?,
        is_default: get(row, &col("is_default"))?,
        status: TenantStatus::parse(&get::<String>(row, &col("status"))?)?,
        plan_code: get::<Option<String>>(row, &col("plan_code"))?
            .map(|c| PlanCode::parse(&c).map_err(corrupt))
            .transpose()?,
        plan_selected_at: get_opt_ts(row, &col("plan_selected_at"))?,
        created_at: get_ts(row, &col("created_at"))?,
    })
}

/// A stored role.
fn role(row: &DbRow, col: &str) -> Result<Role, StoreError> {
    let role: String = get(row, col)?;
    Role::parse(&role).ok_or_else(|| corrupt(role))
}

fn membership(row: &DbRow) -> Result<Membership, StoreError> {
    Ok(Membership {
        user_id: UserId::from_uuid(get_id(row, "user_id")?),
        organization_id: OrganizationId::from_uuid(get_id(row, "organization_id")?),
        role: role(row, "role")?,
    })
}
