//! A circuit breaker on the database for the request path. With the database gone, each
//! request would still wait for a pooled connection (up to `database.acquire_timeout_ms`)
//! before answering 503: under load that holds every worker and connection slot. After three
//! requests in a row failed for want of the database, the breaker opens: for two seconds every
//! API request answers 503 `SERVICE_UNAVAILABLE` at once, with `Retry-After`, without touching
//! the pool. Then requests go through again; the first that fails for the same reason opens it
//! again, the first that succeeds closes it.

use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures in a row that open the breaker.
pub const TRIP_AFTER: u32 = 3;
/// How long it stays open.
pub const OPEN_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

/// The breaker's state, shared by the API's workers.
#[derive(Debug, Clone, Default)]
pub struct DbBreaker(Arc<Mutex<State>>);

impl DbBreaker {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Two counters: a panic mid-update leaves nothing inconsistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(time left)` while open.
    ///
    /// # Errors
    /// The breaker is open.
    pub fn admit(&self) -> Result<(), Duration> {
        match self.state().open_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    /// Records whether a request failed for want of the database.
    pub fn record(&self, database_unavailable: bool) {
        let mut s = self.state();
        if database_unavailable {
            s.failures = s.failures.saturating_add(1);
            if s.failures >= TRIP_AFTER {
                s.open_until = Some(Instant::now() + OPEN_FOR);
            }
        } else {
            *s = State::default();
        }
    }
}

/// The middleware (on `/api/v1`).
///
/// # Errors
/// Those of the inner service.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let breaker = req
        .app_data::<web::Data<DbBreaker>>()
        .map(|b| DbBreaker::clone(b));
    if let Some(left) = breaker.as_ref().and_then(|b| b.admit().err()) {
        let secs = left.as_millis().div_ceil(1000).max(1);
        let refusal = ApiError::unavailable("the database is unavailable; retry shortly")
            .with_header("Retry-After", secs.to_string());
        return Ok(req.into_response(refusal.error_response()));
    }
    let res = next.call(req).await?;
    if let Some(b) = breaker {
        let unavailable = res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
            .is_some_and(|e| e.code() == "SERVICE_UNAVAILABLE");
        // Only answers that say something about the database count: a 4xx refusal made
        // before any query (bad input, no token) proves nothing either way.
        if unavailable || res.status().is_success() {
            b.record(unavailable);
        }
    }
    Ok(res.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m6_the_breaker_opens_after_three_failures_and_closes_on_a_success() {
        let b = DbBreaker::default();
        b.record(true);
        b.record(true);
        assert!(b.admit().is_ok());
        b.record(true);
        let left = b.admit().unwrap_err();
        assert!(left <= OPEN_FOR && left > Duration::ZERO);
        b.record(false);
        assert!(b.admit().is_ok(), "a success closes it");
        b.record(true);
        assert!(b.admit().is_ok(), "the count starts again");
    }
}
