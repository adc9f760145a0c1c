//! Rate limits on top of the `RateLimiter` port (Redis, or in-memory): 429 problem+json with
//! `Retry-After` and the `RateLimit-*` headers of the IETF draft.

use crate::error::ApiError;
use crate::wiring::Services;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use std::time::Duration;

/// The client address used as a rate-limit key: the TCP peer. (Behind a reverse proxy, every
/// request would share the proxy's address; trusting `X-Forwarded-For` needs a configured list
/// of proxies, not done yet.)
#[must_use]
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Counts a hit on `key` and refuses past `limit` per `window`. A limiter failure lets the
/// request through (logged by the degrading adapter): limits protect, they must not take the
/// API down.
///
/// # Errors
/// 429 `RATE_LIMITED`.
pub async fn check(
    services: &Services,
    key: &str,
    limit: u32,
    window: Duration,
) -> Result<(), ApiError> {
    let decision = match services.rate_limiter.hit(key, limit, window).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; allowing");
            return Ok(());
        }
    };
    if decision.allowed {
        return Ok(());
    }
    let reset = decision.reset_after.as_secs().max(1);
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!("too many requests; retry in {reset} s"),
    )
    .with_header("Retry-After", reset.to_string())
    .with_header("RateLimit-Limit", decision.limit.to_string())
    .with_header("RateLimit-Remaining", decision.remaining.to_string())
    .with_header("RateLimit-Reset", reset.to_string())
    .with_header(
        "RateLimit-Policy",
        format!("{};w={}", decision.limit, window.as_secs()),
    ))
}

/// The per-IP limit of the unauthenticated auth routes.
///
/// # Errors
/// 429 `RATE_LIMITED`.
pub async fn auth_route(services: &Services, req: &HttpRequest) -> Result<(), ApiError> {
    let key = format!("auth:ip:{}", client_ip(req));
    check(
        services,
        &key,
        services.limits.per_ip_per_minute,
        Duration::from_secs(60),
    )
    .await
}
