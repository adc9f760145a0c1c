//! Idempotency-Key records (the kernel's `IdempotencyStore`).
//!
//! The claim is one statement, an insert-if-absent whose conflict branch only takes over an
//! expired or abandoned record: of two concurrent claims exactly one gets its row back.

use crate::codec::{DbRow, get, get_id, id, ts};
use crate::shared::exec::{execute, fetch_opt};
use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::idempotency::{
    ABANDONED_AFTER, Claim, Fingerprint, IdempotencyKey, IdempotencyStore, NewClaim, RETENTION,
    StoredResponse, after, before,
};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// The idempotency-key records.
#[derive(Debug, Clone)]
pub struct PgIdempotency {
    pool: PgPool,
}

impl PgIdempotency {
    /// A store on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn unexpected(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("idempotency record: {what}"))
}

chom_kernel::str_enum! {
    /// Where a record is (`idempotency_keys.state`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum State: "idempotency record state" {
        /// Claimed; its request runs.
        InFlight = "in_flight",
        /// Its answer is stored.
        Completed = "completed",
    }
}

fn found(row: &DbRow) -> Result<Claim, StoreError> {
    let fingerprint = Fingerprint::from_bytes(&get::<Vec<u8>>(row, "fingerprint")?)?;
    match State::parse(&get::<String>(row, "state")?)? {
        State::InFlight => Ok(Claim::InFlight { fingerprint }),
        State::Completed => {
            let status: Option<i32> = get(row, "response_status")?;
            let status = status
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| unexpected("a completed record without a valid status"))?;
            let headers: Option<String> = get(row, "response_headers")?;
            let headers: Vec<(String, String)> = match headers {
                Some(h) => serde_json::from_str(&h).map_err(unexpected)?,
                None => Vec::new(),
            };
            let body: Option<Vec<u8>> = get(row, "response_body")?;
            Ok(Claim::Completed {
                fingerprint,
                response: StoredResponse {
                    status,
                    headers,
                    body: body.unwrap_or_default(),
                },
            })
        }
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotency {
    async fn claim(&self, claim: &NewClaim<'_>) -> Result<Claim, StoreError> {
        // The record found may vanish before it is read (its request failed and released it):
        // then claim again.
        for _ in 0..5 {
            let claim_row = sqlx::query(
                "INSERT INTO idempotency_keys
                     (caller, idempotency_key, fingerprint, state, lock_id, locked_at, created_at,
                      expires_at)
                 VALUES ($1, $2, $3, $8, $4, $5, $5, $6)
                 ON CONFLICT (caller, idempotency_key) DO UPDATE
                 SET fingerprint = EXCLUDED.fingerprint, state = $8,
                     lock_id = EXCLUDED.lock_id, locked_at = EXCLUDED.locked_at,
                     response_status = NULL, response_headers = NULL, response_body = NULL,
                     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
                 WHERE idempotency_keys.expires_at <= $5
                    OR (idempotency_keys.state = $8
                        AND idempotency_keys.locked_at <= $7
                        AND idempotency_keys.fingerprint = EXCLUDED.fingerprint)
                 RETURNING lock_id",
            )
            .bind(claim.caller)
            .bind(claim.key.as_str())
            .bind(claim.fingerprint.as_bytes().as_slice())
            .bind(id(claim.lock))
            .bind(ts(claim.now))
            .bind(ts(after(claim.now, RETENTION)))
            .bind(ts(before(claim.now, ABANDONED_AFTER)))
            .bind(State::InFlight.as_str());
            let won = fetch_opt(claim_row, &self.pool, |r| get_id(r, "lock_id")).await?;
            if let Some(lock) = won {
                if lock == claim.lock {
                    return Ok(Claim::Acquired);
                }
                return Err(unexpected("the claimed record holds another lock"));
            }
            let select = sqlx::query(
                "SELECT fingerprint, state, response_status, response_headers, response_body
                 FROM idempotency_keys WHERE caller = $1 AND idempotency_key = $2",
            )
            .bind(claim.caller)
            .bind(claim.key.as_str());
            if let Some(existing) = fetch_opt(select, &self.pool, found).await? {
                return Ok(existing);
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "idempotency key {:?} keeps changing hands",
            claim.key.as_str()
        )))
    }

    async fn complete(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
        response: &StoredResponse,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let headers = serde_json::to_string(&response.headers).map_err(unexpected)?;
        let update = sqlx::query(
            "UPDATE idempotency_keys
             SET state = $8, response_status = $4, response_headers = $5,
                 response_body = $6, expires_at = $7
             WHERE caller = $1 AND idempotency_key = $2 AND lock_id = $3 AND state = $9",
        )
        .bind(caller)
        .bind(key.as_str())
        .bind(id(lock))
        .bind(i32::from(response.status))
        .bind(headers)
        .bind(response.body.as_slice())
        .bind(ts(after(now, RETENTION)))
        .bind(State::Completed.as_str())
        .bind(State::InFlight.as_str());
        Ok(execute(update, &self.pool).await? == 1)
    }

    async fn release(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
    ) -> Result<bool, StoreError> {
        let delete = sqlx::query(
            "DELETE FROM idempotency_keys
             WHERE caller = $1 AND idempotency_key = $2 AND lock_id = $3 AND state = $4",
        )
        .bind(caller)
        .bind(key.as_str())
        .bind(id(lock))
        .bind(State::InFlight.as_str());
        Ok(execute(delete, &self.pool).await? == 1)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let delete =
            sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1").bind(ts(now));
        execute(delete, &self.pool).await
    }
}
