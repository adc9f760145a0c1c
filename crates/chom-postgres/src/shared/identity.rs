//! Identity repositories (auth + tenancy ports) on PostgreSQL.
//!
//! Written against `crate::codec` so the same text serves SQLite: `chom-sqlite`'s build script
//! generates its twin from this file (placeholders `$n` → `?n`, type names); keep the SQL
//! portable (no `now()`, times are bound).

use crate::codec::{self, DbRow, get, get_id, get_opt_id, get_opt_ts, get_ts, id, one, ts};
use crate::error::map_err;
use crate::store::PgUnitOfWork;
use async_trait::async_trait;
use chom_auth::ports::{
    OneTimeTokenRepository, Purpose, RecoveryCodeRepository, TokenRepository, UserRepository,
};
use chom_auth::{
    Abilities, ApiToken, ApprovalStatus, EmailAddress, NewUser, PasswordHash, PersonName, User,
    Username,
};
use chom_kernel::store::{UnitOfWork, downcast_uow};
use chom_kernel::{OrganizationId, Role, StoreError, TenantId, UserId};
use chom_tenancy::PlanCode;
use chom_tenancy::model::{
    Membership, Organization, OrganizationStatus, SessionMembership, SessionRecord, Tenant,
    TenantStatus,
};
use chom_tenancy::ports::{OrganizationRepository, SessionLookup};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

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

fn tx(uow: &mut dyn UnitOfWork) -> Result<&mut PgUnitOfWork, StoreError> {
    downcast_uow::<PgUnitOfWork>(uow)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("corrupt row: {e}"))
}

/// Runs `sql`, an approval-decision `UPDATE` (`$2` status, `$3` reason, `$4` by, `$5` at) of row `$1`, on exactly one row.
async fn record_decision(
    uow: &mut dyn UnitOfWork,
    sql: &'static str,
    row: Uuid,
    status: ApprovalStatus,
    reason: Option<&str>,
    by: UserId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let r = sqlx::query(sql)
        .bind(id(row))
        .bind(status.as_str())
        .bind(reason)
        .bind(id(by.as_uuid()))
        .bind(ts(at))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
    one(r.rows_affected())
}

/// Runs `sql`, an `UPDATE … SET <column> = $2, updated_at = $3 WHERE id = $1`, on exactly one row.
async fn set_column(
    uow: &mut dyn UnitOfWork,
    sql: &'static str,
    row: Uuid,
    value: &str,
) -> Result<(), StoreError> {
    let r = sqlx::query(sql)
        .bind(id(row))
        .bind(value)
        .bind(ts(OffsetDateTime::now_utc()))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
    one(r.rows_affected())
}

const USER_COLUMNS: &str = "id, username, email, first_name, last_name, password_hash, is_super_admin, \
     approval_status, approval_reason, email_verified_at, password_changed_at, totp_secret_sealed, \
     totp_enabled_at, totp_last_step, created_at";

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

const TOKEN_COLUMNS: &str =
    "id, user_id, name, secret_hash, abilities, expires_at, last_used_at, revoked_at, created_at";

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

const ORG_COLUMNS: &str = "id, name, status, approval_status, approval_reason, created_at";

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

const TENANT_COLUMNS: &str =
    "id, organization_id, name, is_default, status, plan_code, plan_selected_at, created_at";

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

fn membership(row: &DbRow) -> Result<Membership, StoreError> {
    let role: String = get(row, "role")?;
    Ok(Membership {
        user_id: UserId::from_uuid(get_id(row, "user_id")?),
        organization_id: OrganizationId::from_uuid(get_id(row, "organization_id")?),
        role: Role::parse(&role).ok_or_else(|| corrupt(role))?,
    })
}

#[async_trait]
impl UserRepository for PgIdentity {
    async fn insert_user(&self, uow: &mut dyn UnitOfWork, u: &NewUser) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        sqlx::query(
            "INSERT INTO users (id, username, email, first_name, last_name, password_hash, is_super_admin,
                                approval_status, email_verified_at, password_changed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)",
        )
        .bind(id(u.id.as_uuid()))
        .bind(u.username.as_str())
        .bind(u.email.as_str())
        .bind(u.first_name.as_str())
        .bind(u.last_name.as_str())
        .bind(u.password_hash.as_str())
        .bind(u.is_super_admin)
        .bind(u.approval.as_str())
        .bind(u.email_verified_at.map(ts))
        .bind(ts(now))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_user(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id(user_id.as_uuid()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(user).transpose()
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        )))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(user).transpose()
    }

    async fn list_users(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE ($1 IS NULL OR approval_status = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(approval.map(ApprovalStatus::as_str))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(user).collect()
    }

    async fn list_super_admins(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE is_super_admin ORDER BY created_at"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(user).collect()
    }

    async fn mark_email_verified(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let r = sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 WHERE id = $1")
            .bind(id(user_id.as_uuid()))
            .bind(ts(at))
            .execute(tx(uow)?.conn())
            .await
            .map_err(map_err)?;
        one(r.rows_affected())
    }

    async fn decide_user(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        status: ApprovalStatus,
        reason: Option<&str>,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        record_decision(
            uow,
            "UPDATE users SET approval_status = $2, approval_reason = $3, decided_by = $4, decided_at = $5, updated_at = $5
             WHERE id = $1",
            user_id.as_uuid(),
            status,
            reason,
            by,
            at,
        )
        .await
    }

    async fn set_password(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        hash: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let r = sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1")
            .bind(id(user_id.as_uuid()))
            .bind(hash)
            .bind(ts(at))
            .execute(tx(uow)?.conn())
            .await
            .map_err(map_err)?;
        one(r.rows_affected())
    }

    async fn set_totp(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        sealed: Option<&str>,
        enabled_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE users SET totp_secret_sealed = $2, totp_enabled_at = $3 WHERE id = $1",
        )
        .bind(id(user_id.as_uuid()))
        .bind(sealed)
        .bind(enabled_at.map(ts))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        one(r.rows_affected())
    }

    async fn record_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id(user_id.as_uuid()))
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_login(&self, user_id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(id(user_id.as_uuid()))
            .bind(ts(at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn check_rejected_email(&self, email: &EmailAddress) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE rejected_emails SET attempts = attempts + 1 WHERE email = $1")
            .bind(email.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn remember_rejected_email(
        &self,
        uow: &mut dyn UnitOfWork,
        email: &EmailAddress,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rejected_emails (email, reason, attempts, rejected_at) VALUES ($1, $2, 0, $3)
             ON CONFLICT (email) DO UPDATE SET reason = EXCLUDED.reason, rejected_at = EXCLUDED.rejected_at",
        )
        .bind(email.as_str())
        .bind(reason)
        .bind(ts(OffsetDateTime::now_utc()))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl TokenRepository for PgIdentity {
    async fn insert_token(&self, uow: &mut dyn UnitOfWork, t: &ApiToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, secret_hash, abilities, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id(t.id))
        .bind(id(t.user_id.as_uuid()))
        .bind(&t.name)
        .bind(t.secret_hash.to_vec())
        .bind(t.abilities.to_storage())
        .bind(ts(t.expires_at))
        .bind(ts(t.created_at))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_tokens(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
               AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(id(user_id.as_uuid()))
        .bind(ts(now))
        .bind(before.map(id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| token(r, "")).collect()
    }

    async fn revoke_token(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        token_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(id(token_id))
            .bind(id(user_id.as_uuid()))
            .bind(ts(at))
            .execute(tx(uow)?.conn())
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_all_tokens(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id(user_id.as_uuid()))
        .bind(ts(at))
        .execute(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn touch_token(&self, token_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id(token_id))
            .bind(ts(at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl OneTimeTokenRepository for PgIdentity {
    async fn insert_one_time(
        &self,
        uow: &mut dyn UnitOfWork,
        purpose: Purpose,
        hash: &[u8; 32],
        user_id: UserId,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let conn = tx(uow)?.conn();
        sqlx::query("UPDATE one_time_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
            .bind(id(user_id.as_uuid()))
            .bind(purpose.as_str())
            .bind(ts(now))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str())
        .bind(id(user_id.as_uuid()))
        .bind(ts(expires_at))
        .bind(ts(now))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn consume_one_time(
        &self,
        uow: &mut dyn UnitOfWork,
        purpose: Purpose,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(
            "UPDATE one_time_tokens SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str())
        .bind(ts(now))
        .fetch_optional(tx(uow)?.conn())
        .await
        .map_err(map_err)?;
        row.map(|r| get_id(&r, "user_id").map(UserId::from_uuid))
            .transpose()
    }
}

#[async_trait]
impl RecoveryCodeRepository for PgIdentity {
    async fn replace_recovery_codes(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let conn = tx(uow)?.conn();
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id(user_id.as_uuid()))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        for h in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(id(user_id.as_uuid()))
                .bind(h.to_vec())
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn consume_recovery_code(
        &self,
        user_id: UserId,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(id(user_id.as_uuid()))
            .bind(hash.to_vec())
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }
}

#[async_trait]
impl OrganizationRepository for PgIdentity {
    async fn insert_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: &Organization,
        t: &Tenant,
    ) -> Result<(), StoreError> {
        let conn = tx(uow)?.conn();
        sqlx::query(
            "INSERT INTO organizations (id, name, status, approval_status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id(org.id.as_uuid()))
        .bind(&org.name)
        .bind(org.status.as_str())
        .bind(org.approval.as_str())
        .bind(ts(org.created_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO tenants (id, organization_id, name, is_default, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id(t.id.as_uuid()))
        .bind(id(t.organization_id.as_uuid()))
        .bind(&t.name)
        .bind(t.is_default)
        .bind(t.status.as_str())
        .bind(ts(t.created_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_organization(
        &self,
        org: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
        )))
        .bind(id(org.as_uuid()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(|r| organization(r, "")).transpose()
    }

    async fn list_organizations(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<Organization>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM organizations
             WHERE ($1 IS NULL OR approval_status = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(approval.map(ApprovalStatus::as_str))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| organization(r, "")).collect()
    }

    async fn decide_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        status: ApprovalStatus,
        reason: Option<&str>,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        record_decision(
            uow,
            "UPDATE organizations SET approval_status = $2, approval_reason = $3, decided_by = $4, decided_at = $5, updated_at = $5
             WHERE id = $1",
            org.as_uuid(),
            status,
            reason,
            by,
            at,
        )
        .await
    }

    async fn set_organization_status(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        status: OrganizationStatus,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE organizations SET status = $2, updated_at = $3 WHERE id = $1",
            org.as_uuid(),
            status.as_str(),
        )
        .await
    }

    async fn rename_organization(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        name: &str,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE organizations SET name = $2, updated_at = $3 WHERE id = $1",
            org.as_uuid(),
            name,
        )
        .await
    }

    async fn get_tenant(&self, t: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        )))
        .bind(id(t.as_uuid()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(|r| tenant(r, "")).transpose()
    }

    async fn list_tenants(
        &self,
        org: Option<OrganizationId>,
        before: Option<TenantId>,
        limit: i64,
    ) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants
             WHERE ($1 IS NULL OR organization_id = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(org.map(|o| id(o.as_uuid())))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| tenant(r, "")).collect()
    }

    async fn select_plan(
        &self,
        uow: &mut dyn UnitOfWork,
        t: TenantId,
        plan: &PlanCode,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let r = sqlx::query("UPDATE tenants SET plan_code = $2, plan_selected_at = $3, updated_at = $3 WHERE id = $1")
            .bind(id(t.as_uuid()))
            .bind(plan.as_str())
            .bind(ts(at))
            .execute(tx(uow)?.conn())
            .await
            .map_err(map_err)?;
        one(r.rows_affected())
    }

    async fn set_tenant_status(
        &self,
        uow: &mut dyn UnitOfWork,
        t: TenantId,
        status: TenantStatus,
    ) -> Result<(), StoreError> {
        set_column(
            uow,
            "UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1",
            t.as_uuid(),
            status.as_str(),
        )
        .await
    }

    async fn insert_membership(
        &self,
        uow: &mut dyn UnitOfWork,
        m: &Membership,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id(m.user_id.as_uuid()))
            .bind(id(m.organization_id.as_uuid()))
            .bind(m.role.as_str())
            .bind(ts(OffsetDateTime::now_utc()))
            .execute(tx(uow)?.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn membership_of(&self, user_id: UserId) -> Result<Option<Membership>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, organization_id, role FROM memberships WHERE user_id = $1 ORDER BY created_at, organization_id LIMIT 1",
        )
        .bind(id(user_id.as_uuid()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(membership).transpose()
    }

    async fn list_members(&self, org: OrganizationId) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, organization_id, role FROM memberships WHERE organization_id = $1 ORDER BY created_at, user_id",
        )
        .bind(id(org.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(membership).collect()
    }

    async fn page_members(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS},
                    (SELECT m.role FROM memberships m
                      WHERE m.user_id = users.id AND m.organization_id = $1) AS member_role
               FROM users
              WHERE id IN (SELECT user_id FROM memberships WHERE organization_id = $1)
                AND ($2 IS NULL OR id > $2)
              ORDER BY id LIMIT $3"
        )))
        .bind(id(org.as_uuid()))
        .bind(after.map(|a| id(a.as_uuid())))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let u = user(row)?;
                let role: String = get(row, "member_role")?;
                let m = Membership {
                    user_id: u.id,
                    organization_id: org,
                    role: Role::parse(&role).ok_or_else(|| corrupt(role))?,
                };
                Ok((m, u))
            })
            .collect()
    }

    async fn set_role(
        &self,
        uow: &mut dyn UnitOfWork,
        org: OrganizationId,
        user_id: UserId,
        role: Role,
    ) -> Result<i64, StoreError> {
        let conn = tx(uow)?.conn();
        codec::lock_organization(&mut *conn, id(org.as_uuid())).await?;
        let r = sqlx::query(
            "UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(id(org.as_uuid()))
        .bind(id(user_id.as_uuid()))
        .bind(role.as_str())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        one(r.rows_affected())?;
        let owners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'",
        )
        .bind(id(org.as_uuid()))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
        Ok(owners)
    }

    async fn member_ids(&self, org: OrganizationId) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .list_members(org)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }
}

#[async_trait]
impl SessionLookup for PgIdentity {
    async fn session(&self, token_id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(SESSION_QUERY)
            .bind(id(token_id))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let membership = match get::<Option<String>>(&row, "m_role")? {
            None => None,
            Some(role) => Some(SessionMembership {
                role: Role::parse(&role).ok_or_else(|| corrupt(role))?,
                organization: organization(&row, "o_")?,
                default_tenant: match get_opt_id(&row, "dt_id")? {
                    Some(_) => Some(tenant(&row, "dt_")?),
                    None => None,
                },
            }),
        };
        Ok(Some(SessionRecord {
            token: token(&row, "t_")?,
            user: user(&row)?,
            membership,
        }))
    }
}

/// The one query behind every authenticated request: the token, its user, membership,
/// organization and default tenant (also the pgbench baseline of `cargo xtask bench api`).
/// A user with several memberships gets the oldest (then the lowest organization id), the one
/// `membership_of` answers.
pub const SESSION_QUERY: &str = "SELECT t.id AS t_id, t.user_id AS t_user_id, t.name AS t_name,
        t.secret_hash AS t_secret_hash, t.abilities AS t_abilities, t.expires_at AS t_expires_at,
        t.last_used_at AS t_last_used_at, t.revoked_at AS t_revoked_at, t.created_at AS t_created_at,
        u.id, u.username, u.email, u.first_name, u.last_name, u.password_hash, u.is_super_admin,
        u.approval_status, u.approval_reason, u.email_verified_at, u.password_changed_at,
        u.totp_secret_sealed, u.totp_enabled_at, u.totp_last_step, u.created_at,
        m.role AS m_role,
        o.id AS o_id, o.name AS o_name, o.status AS o_status, o.approval_status AS o_approval_status,
        o.approval_reason AS o_approval_reason, o.created_at AS o_created_at,
        dt.id AS dt_id, dt.organization_id AS dt_organization_id, dt.name AS dt_name,
        dt.is_default AS dt_is_default, dt.status AS dt_status, dt.plan_code AS dt_plan_code,
        dt.plan_selected_at AS dt_plan_selected_at, dt.created_at AS dt_created_at
   FROM api_tokens t
   JOIN users u ON u.id = t.user_id
   LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = (
        SELECT f.organization_id FROM memberships f WHERE f.user_id = u.id
         ORDER BY f.created_at, f.organization_id LIMIT 1)
   LEFT JOIN organizations o ON o.id = m.organization_id
   LEFT JOIN tenants dt ON dt.organization_id = o.id AND dt.is_default
  WHERE t.id = $1";
