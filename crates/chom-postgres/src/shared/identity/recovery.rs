//! Two-factor recovery codes (auth's `RecoveryCodeRepository`): replaced as a set, each used
//! once.

use super::PgIdentity;
use crate::codec::{id, ts};
use crate::shared::exec::{execute, tx};
use async_trait::async_trait;
use chom_auth::ports::RecoveryCodeRepository;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{StoreError, UserId};
use time::OffsetDateTime;

#[async_trait]
impl RecoveryCodeRepository for PgIdentity {
    async fn replace_recovery_codes(
        &self,
        uow: &mut dyn UnitOfWork,
        user_id: UserId,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let conn = tx(uow)?.conn();
        let delete = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id(user_id.as_uuid()));
        execute(delete, &mut *conn).await?;
        for h in hashes {
            let insert =
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(id(user_id.as_uuid()))
                    .bind(h.to_vec());
            execute(insert, &mut *conn).await?;
        }
        Ok(())
    }

    async fn consume_recovery_code(
        &self,
        user_id: UserId,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let consume = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(id(user_id.as_uuid()))
        .bind(hash.to_vec())
        .bind(ts(now));
        Ok(execute(consume, &self.pool).await? == 1)
    }
}
