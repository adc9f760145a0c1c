//! API tokens (auth's `TokenRepository`): issue, list, revoke, touch.

use super::{PgIdentity, token, token_columns};
use crate::codec::{id, ts};
use crate::shared::exec::{execute, fetch_all, tx};
use async_trait::async_trait;
use chom_auth::ApiToken;
use chom_auth::ports::TokenRepository;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

#[async_trait]
impl TokenRepository for PgIdentity {
    async fn insert_token(&self, uow: &mut dyn UnitOfWork, t: &ApiToken) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, secret_hash, abilities, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id(t.id))
        .bind(id(t.user_id.as_uuid()))
        .bind(&t.name)
        .bind(t.secret_hash.to_vec())
        .bind(t.abilities.to_storage())
        .bind(ts(t.expires_at))
        .bind(ts(t.created_at));
        execute(insert, tx(uow)?.conn()).await.map(drop)
    }

    async fn list_tokens(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
               AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(id(user_id.as_uuid()))
        .bind(ts(now))
        .bind(before.map(id))
        .bind(limit);
        fetch_all(select, &self.pool, |r| token(r, "")).await
    }

    async fn revoke_token(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        token_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id(token_id))
        .bind(id(user_id.as_uuid()))
        .bind(ts(at));
        Ok(execute(update, tx(uow)?.conn()).await? == 1)
    }

    async fn revoke_all_tokens(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let update = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id(user_id.as_uuid()))
        .bind(ts(at));
        execute(update, tx(uow)?.conn()).await
    }

    async fn touch_token(&self, token_id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        let update = sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id(token_id))
            .bind(ts(at));
        execute(update, &self.pool).await.map(drop)
    }
}
