//! Users (auth's `UserRepository`): accounts, approval, password, TOTP, rejected e-mails.

use super::{PgIdentity, record_decision, user, user_columns};
use crate::codec::{id, ts};
use crate::shared::exec::{execute, execute_one, fetch_all, fetch_opt, tx};
use async_trait::async_trait;
use chom_auth::ports::UserRepository;
use chom_auth::{ApprovalStatus, EmailAddress, NewUser, User};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, UserId};
use time::OffsetDateTime;

#[async_trait]
impl UserRepository for PgIdentity {
    async fn insert_user(&self, uow: &mut dyn UnitOfWork, u: &NewUser) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let insert = sqlx::query(
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
        .bind(ts(now));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn get_user(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id(user_id.as_uuid()));
        fetch_opt(select, &self.pool, user).await
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email.as_str());
        fetch_opt(select, &self.pool, user).await
    }

    async fn list_users(
        &self,
        approval: Option<ApprovalStatus>,
        before: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE ($1 IS NULL OR approval_status = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(approval.map(ApprovalStatus::as_str))
        .bind(before.map(|b| id(b.as_uuid())))
        .bind(limit);
        fetch_all(select, &self.pool, user).await
    }

    async fn list_super_admins(&self) -> Result<Vec<User>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE is_super_admin ORDER BY created_at"
        ));
        fetch_all(select, &self.pool, user).await
    }

    async fn mark_email_verified(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2
             WHERE id = $1",
        )
        .bind(id(user_id.as_uuid()))
        .bind(ts(at));
        execute_one(update, tx(uow)?.conn()).await
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
        let update = sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3
             WHERE id = $1",
        )
        .bind(id(user_id.as_uuid()))
        .bind(hash)
        .bind(ts(at));
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn set_totp(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        sealed: Option<&str>,
        enabled_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE users SET totp_secret_sealed = $2, totp_enabled_at = $3 WHERE id = $1",
        )
        .bind(id(user_id.as_uuid()))
        .bind(sealed)
        .bind(enabled_at.map(ts));
        execute_one(update, tx(uow)?.conn()).await
    }

    async fn record_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE users SET totp_last_step = $2
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id(user_id.as_uuid()))
        .bind(step);
        Ok(execute(update, &self.pool).await? == 1)
    }

    async fn touch_login(&self, user_id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        let update = sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(id(user_id.as_uuid()))
            .bind(ts(at));
        execute(update, &self.pool).await.map(drop)
    }

    async fn check_rejected_email(&self, email: &EmailAddress) -> Result<bool, StoreError> {
        let update =
            sqlx::query("UPDATE rejected_emails SET attempts = attempts + 1 WHERE email = $1")
                .bind(email.as_str());
        Ok(execute(update, &self.pool).await? == 1)
    }

    async fn remember_rejected_email(
        &self,
        uow: &mut dyn UnitOfWork,
        email: &EmailAddress,
        reason: &str,
    ) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO rejected_emails (email, reason, attempts, rejected_at) VALUES ($1, $2, 0, $3)
             ON CONFLICT (email) DO UPDATE SET reason = EXCLUDED.reason, rejected_at = EXCLUDED.rejected_at",
        )
        .bind(email.as_str())
        .bind(reason)
        .bind(ts(OffsetDateTime::now_utc()));
        execute(upsert, tx(uow)?.conn()).await.map(drop)
    }
}
