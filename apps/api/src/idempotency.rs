//! `Idempotency-Key` on every authenticated POST under `/api/v1`: a client that lost an answer
//! sends the request again with the same key and gets the first answer back (with
//! `Idempotent-Replayed: true`) instead of a second site, token or operation.
//!
//! The key belongs to the bearer token that sent it (after authenticating it: a revoked token
//! replays nothing, and one token never sees another's answers, even of the same user, whose
//! tokens may hold fewer abilities). Unauthenticated POSTs (sign-up, login, password reset) are
//! not covered: keyed by address, one client behind a shared NAT could replay another's login,
//! and those routes are safe to repeat anyway (a second sign-up is `EMAIL_TAKEN`, a used
//! verification token is refused).
//!
//! Only successful answers (2xx, 3xx) are kept: an error changed nothing, so the key is released
//! and a retry runs again against the present state (a 409 `OPERATION_IN_PROGRESS` must not be
//! replayed once the operation ended; a 5xx may pass next time). The handler runs in its own
//! task so that a client hanging up mid-request cannot stop the answer from being recorded: the
//! retry finds it.

mod middleware;
mod openapi;

pub use middleware::honour;
pub use openapi::OpenApiHeader;

use crate::error::ApiError;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use chom_kernel::StoreError;
use chom_kernel::crypto::Sealer;
use chom_kernel::idempotency::{IdempotencyKey, IdempotencyStore, StoredResponse};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The request header naming a request.
pub const HEADER: &str = "idempotency-key";

/// The response header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// The response headers kept with an answer (the rest describe one transmission: request id,
/// rate limits).
const KEPT_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::RETRY_AFTER,
    header::CONTENT_DISPOSITION,
];

/// The idempotency-key records and how answers are kept in them.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    sealer: Arc<Sealer>,
    max_body: usize,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Idempotency {
    /// Records in `store`; bodies sealed with `sealer` (an answer may hold a secret shown once,
    /// like a new API token); requests read up to `max_body` bytes (`server.max_body_bytes`).
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyStore>, sealer: Arc<Sealer>, max_body: usize) -> Self {
        Self {
            store,
            sealer,
            max_body,
        }
    }

    /// The records (tests hold a key through it).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.store
    }

    /// Deletes the records older than their 24 hours (the `prune-jobs` periodic job).
    ///
    /// # Errors
    /// The database failed.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(OffsetDateTime::now_utc()).await
    }

    async fn release(&self, caller: &str, key: &IdempotencyKey, lock: Uuid) {
        if let Err(e) = self.store.release(caller, key, lock).await {
            // The record stays in flight until it counts as abandoned; retries wait until then.
            tracing::error!(error = %format!("{e:#}"), "could not release an idempotency key");
        }
    }

    async fn record(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let sealed = match self.sealer.seal(body) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not seal an answer to keep");
                return;
            }
        };
        let kept = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let response = StoredResponse {
            status: status.as_u16(),
            headers: kept,
            body: sealed.into_bytes(),
        };
        match self
            .store
            .complete(caller, key, lock, &response, OffsetDateTime::now_utc())
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!("an idempotency key was taken over before its answer"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "could not keep an answer for its idempotency key");
            }
        }
    }

    fn replay(&self, stored: StoredResponse) -> Result<HttpResponse, ApiError> {
        let body = String::from_utf8(stored.body)
            .map_err(anyhow::Error::from)
            .and_then(|sealed| self.sealer.open(&sealed).map_err(anyhow::Error::from))
            .map_err(|e| ApiError::internal(e.context("opening a kept answer")))?;
        let status = StatusCode::from_u16(stored.status)
            .map_err(|e| ApiError::internal(anyhow::Error::from(e).context("a kept status")))?;
        let mut response = HttpResponse::build(status);
        for (name, value) in stored.headers {
            response.insert_header((name, value));
        }
        response.insert_header((REPLAYED, "true"));
        Ok(response.body(body))
    }
}

/// Whose keys a request uses: its bearer token's (`token:<token id>`).
#[must_use]
pub fn caller(token_id: Uuid) -> String {
    format!("token:{}", token_id.simple())
}
