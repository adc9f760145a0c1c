//! Rate limits on top of the `RateLimiter` port (Redis, or in-memory): 429 problem+json with
//! `Retry-After` and the `RateLimit-*` headers of the IETF draft.
//!
//! Four kinds:
//! - per client address on the unauthenticated auth routes (the address behind trusted
//!   proxies, see [`crate::client_addr`]);
//! - per account on every route that checks a password or a TOTP code ([`Account`]): failures
//!   only, reset by a success, slowing down exponentially instead of locking the owner out;
//! - per token, by the plan of the tenant it acts for ([`api_token`]), reported on every
//!   authenticated answer through the `RateLimit-*` headers;
//! - per tenant on sensitive operations ([`sensitive`]).
//!
//! Keys never carry an identifier in clear: e-mail addresses and client addresses are named by
//! a keyed hash ([`chom_kernel::crypto::KeyedHash`]), so a Redis dump lists no account.

pub mod state;

pub use state::{PlanLimits, StreamSlot, StreamSlots};

use crate::error::ApiError;
use crate::wiring::Services;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chom_kernel::cache::RateDecision;
use chom_tenancy::identity::IdentityError;
use std::future::Future;
use std::time::Duration;

/// The failure window of an account.
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// TOTP failures allowed per account per [`ACCOUNT_WINDOW`].
pub const TOTP_FAILURES: u32 = 5;
/// The longest pause between two password attempts of a throttled account.
pub const MAX_DELAY: Duration = ACCOUNT_WINDOW;

/// The client address used as a rate-limit key and in logs: the TCP peer, or the right-most
/// untrusted hop when the peer is a trusted proxy.
#[must_use]
pub fn client_ip(services: &Services, req: &HttpRequest) -> String {
    services
        .proxies
        .of(req)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

fn refusal(decision_limit: u32, remaining: u32, reset: Duration, window: Duration) -> ApiError {
    let reset = reset.as_millis().div_ceil(1000).max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!("too many requests; retry in {reset} s"),
    )
    .with_header("Retry-After", reset.to_string())
    .with_header("RateLimit-Limit", decision_limit.to_string())
    .with_header("RateLimit-Remaining", remaining.to_string())
    .with_header("RateLimit-Reset", reset.to_string())
    .with_header(
        "RateLimit-Policy",
        format!("{decision_limit};w={}", window.as_secs()),
    )
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
) -> Result<RateDecision, ApiError> {
    let decision = match services.rate_limiter.hit(key, limit, window).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; allowing");
            return Ok(RateDecision {
                allowed: true,
                limit,
                remaining: limit,
                reset_after: window,
            });
        }
    };
    if decision.allowed {
        return Ok(decision);
    }
    Err(refusal(
        decision.limit,
        decision.remaining,
        decision.reset_after,
        window,
    ))
}

/// The per-address limit of the unauthenticated auth routes.
///
/// # Errors
/// 429 `RATE_LIMITED`.
pub async fn auth_route(services: &Services, req: &HttpRequest) -> Result<(), ApiError> {
    let key = format!(
        "auth:ip:{}",
        services.key_names.name(&client_ip(services, req))
    );
    check(
        services,
        &key,
        services.limits.per_ip_per_minute,
        Duration::from_secs(60),
    )
    .await
    .map(drop)
}

/// At most `security.sensitive_operations_per_minute` (default 10) sensitive operations
/// (database export, site delete…) per tenant per minute.
///
/// # Errors
/// 429 `RATE_LIMITED`.
pub async fn sensitive(services: &Services, tenant: chom_kernel::TenantId) -> Result<(), ApiError> {
    check(
        services,
        &format!("sensitive:{tenant}"),
        services.limits.sensitive_per_minute,
        Duration::from_secs(60),
    )
    .await
    .map(drop)
}

/// [`sensitive`], counted only for a caller whose role may perform `action`: the use case
/// refuses the others, and a refused viewer must not use up its admins' budget.
///
/// # Errors
/// 429 `RATE_LIMITED`.
pub async fn sensitive_for(
    services: &Services,
    ctx: &chom_kernel::TenantContext,
    action: chom_team::Action,
) -> Result<(), ApiError> {
    if chom_team::allows(ctx.role(), action) {
        sensitive(services, ctx.tenant_id()).await?;
    }
    Ok(())
}

/// Counts a request of `token` against its limit: the plan of `tenant` if it has one, else
/// `security.api_requests_per_minute`. The decision goes into the `RateLimit-*` headers of the
/// answer (see [`headers`]).
///
/// # Errors
/// 429 `RATE_LIMITED` with `Retry-After`.
pub async fn api_token(
    services: &Services,
    token: uuid::Uuid,
    tenant: Option<&chom_tenancy::model::Tenant>,
) -> Result<RateDecision, ApiError> {
    let plan_limit = match tenant.and_then(|t| t.plan_code.as_ref()) {
        Some(plan) => services.plan_limits.of(services.plans.as_ref(), plan).await,
        None => None,
    };
    let limit = plan_limit.unwrap_or(services.limits.api_per_minute);
    check(
        services,
        &format!("api:token:{}", token.simple()),
        limit,
        Duration::from_secs(60),
    )
    .await
}

/// The `RateLimit-*` headers of a decision.
#[must_use]
pub fn headers(d: &RateDecision) -> [(&'static str, String); 3] {
    [
        ("RateLimit-Limit", d.limit.to_string()),
        ("RateLimit-Remaining", d.remaining.to_string()),
        (
            "RateLimit-Reset",
            d.reset_after.as_millis().div_ceil(1000).max(1).to_string(),
        ),
    ]
}

/// What an attempt checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// A password.
    pub password: bool,
    /// A TOTP or recovery code.
    pub code: bool,
}

/// The delay an account with `failures` password failures must leave between two attempts:
/// none for the first `free` failures, then 1 s, 2 s, 4 s… up to [`MAX_DELAY`].
#[must_use]
pub fn delay_after(failures: u64, free: u32) -> Duration {
    let Some(over) = failures.checked_sub(u64::from(free)) else {
        return Duration::ZERO;
    };
    let secs = 1_u64
        .checked_shl(u32::try_from(over).unwrap_or(u32::MAX))
        .unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_DELAY)
}

/// The throttle of one account, shared by every route that checks its password or a code
/// (login, password change, 2FA set-up, confirmation and removal).
#[derive(Debug)]
pub struct Account<'a> {
    services: &'a Services,
    name: String,
}

impl<'a> Account<'a> {
    /// The account of `email` (case and surrounding spaces ignored).
    #[must_use]
    pub fn of_email(services: &'a Services, email: &str) -> Self {
        Self {
            services,
            name: services.key_names.name(&email.trim().to_lowercase()),
        }
    }

    fn key(&self, what: &str) -> String {
        format!("auth:account:{what}:{}", self.name)
    }

    async fn peek(&self, what: &str) -> u64 {
        match self.services.rate_limiter.peek(&self.key(what)).await {
            Ok((count, _)) => count,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; allowing");
                0
            }
        }
    }

    /// Refuses an attempt the account's history does not allow yet: past [`TOTP_FAILURES`]
    /// code failures in the window, or inside the pause its password failures impose.
    ///
    /// # Errors
    /// 429 `RATE_LIMITED` with `Retry-After`.
    pub async fn admit(&self, checks: Checks) -> Result<(), ApiError> {
        if checks.code {
            let key = self.key("totp");
            if let Ok((count, left)) = self.services.rate_limiter.peek(&key).await
                && count >= u64::from(TOTP_FAILURES)
            {
                return Err(refusal(TOTP_FAILURES, 0, left, ACCOUNT_WINDOW));
            }
        }
        if checks.password {
            let free = self.services.limits.password_attempts;
            let delay = delay_after(self.peek("password").await, free);
            if !delay.is_zero() {
                // The last failure opened a pause (the slot is taken until it ends); after it,
                // one attempt per slot, whoever comes first, so concurrent guesses cannot share
                // one.
                check(self.services, &self.key("slot"), 1, delay).await?;
            }
        }
        Ok(())
    }

    /// Records the outcome of an attempt: a wrong password or code counts a failure (and a
    /// wrong password past the free ones starts a pause), a success clears the account's
    /// record.
    pub async fn record<T>(&self, checks: Checks, outcome: &Result<T, IdentityError>) {
        let limiter = &self.services.rate_limiter;
        let (cleared, counted): (&[&str], Option<&str>) = match outcome {
            Ok(_) => (&["password", "slot", "totp"], None),
            Err(IdentityError::InvalidCredentials) if checks.password => (&[], Some("password")),
            // The password was right (it is checked first), the code missing or wrong.
            Err(IdentityError::TwoFactorRequired) => (
                if checks.password {
                    &["password", "slot"]
                } else {
                    &[]
                },
                checks.code.then_some("totp"),
            ),
            Err(_) => (&[], None),
        };
        for what in cleared {
            let _ = limiter.reset(&self.key(what)).await;
        }
        let Some(counted) = counted else {
            return;
        };
        let failures = match limiter
            .hit(&self.key(counted), u32::MAX, ACCOUNT_WINDOW)
            .await
        {
            Ok(d) => u64::from(u32::MAX - d.remaining),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; failure not counted");
                return;
            }
        };
        if counted == "password" {
            let pause = delay_after(failures, self.services.limits.password_attempts);
            if !pause.is_zero() {
                // The pause starts now, with the length this failure earned.
                let slot = self.key("slot");
                let _ = limiter.reset(&slot).await;
                let _ = limiter.hit(&slot, 1, pause).await;
            }
        }
    }

    /// [`Account::admit`], the attempt, then [`Account::record`].
    ///
    /// # Errors
    /// 429 `RATE_LIMITED`, or the attempt's own error.
    pub async fn attempt<T>(
        &self,
        checks: Checks,
        attempt: impl Future<Output = Result<T, IdentityError>>,
    ) -> Result<T, ApiError> {
        self.admit(checks).await?;
        let outcome = attempt.await;
        self.record(checks, &outcome).await;
        outcome.map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m1_the_pause_grows_exponentially_and_is_capped() {
        assert_eq!(delay_after(0, 10), Duration::ZERO);
        assert_eq!(delay_after(9, 10), Duration::ZERO);
        assert_eq!(delay_after(10, 10), Duration::from_secs(1));
        assert_eq!(delay_after(11, 10), Duration::from_secs(2));
        assert_eq!(delay_after(15, 10), Duration::from_secs(32));
        assert_eq!(delay_after(30, 10), MAX_DELAY);
        assert_eq!(delay_after(u64::MAX, 10), MAX_DELAY);
    }
}
