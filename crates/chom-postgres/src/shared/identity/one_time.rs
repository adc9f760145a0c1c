//! One-time tokens (auth's `OneTimeTokenRepository`): e-mail verification and password reset
//! links, single use, one live token per user and purpose.

use super::PgIdentity;
use crate::codec::{get_id, id, ts};
use crate::shared::exec::{execute, fetch_opt, tx};
use async_trait::async_trait;
use chom_auth::ports::{OneTimeTokenRepository, Purpose};
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, UserId};
use time::OffsetDateTime;

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
        let supersede = sqlx::query(
            "UPDATE one_time_tokens SET used_at = $3
             WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        )
        .bind(id(user_id.as_uuid()))
        .bind(purpose.as_str())
        .bind(ts(now));
        execute(supersede, &mut *conn).await?;
        let insert = sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str())
        .bind(id(user_id.as_uuid()))
        .bind(ts(expires_at))
        .bind(ts(now));
        execute(insert, &mut *conn).await.map(drop)
    }

    async fn consume_one_time(
        &self,
        uow: &mut dyn UnitOfWork,
        purpose: Purpose,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let consume = sqlx::query(
            "UPDATE one_time_tokens SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str())
        .bind(ts(now));
        fetch_opt(consume, tx(uow)?.conn(), |r| {
            get_id(r, "user_id").map(UserId::from_uuid)
        })
        .await
    }
}
