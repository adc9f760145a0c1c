//! The HTTP app's state: the runtime's services (the contexts wired to their adapters, see
//! `chom-runtime`) plus what only the HTTP layer needs (rate limits, the database breaker,
//! stream slots, trusted proxies, sealed idempotent answers).

use crate::config::Settings;
use std::sync::Arc;
use std::time::Duration;

/// Rate limits of the authentication routes.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Per client IP per minute, unauthenticated auth routes.
    pub per_ip_per_minute: u32,
    /// Wrong passwords per account per 15 minutes before attempts slow down.
    pub password_attempts: u32,
    /// API requests per token per minute when no plan says otherwise.
    pub api_per_minute: u32,
    /// Sensitive operations per tenant per minute.
    pub sensitive_per_minute: u32,
    /// Super admins need 2FA on to use the admin API.
    pub admin_two_factor: bool,
}

/// What handlers reach through `web::Data<Services>`: the runtime's services (by `Deref`, so
/// `services.sites` is the sites service) and the HTTP-only parts.
#[derive(Clone)]
pub struct Services {
    /// The contexts and adapters, as the worker has them too.
    pub core: chom_runtime::Services,
    /// Authentication rate limits.
    pub limits: AuthLimits,
    /// Time a client has to send a request body.
    pub body_timeout: Duration,
    /// Fails requests fast while the database is out.
    pub db_breaker: crate::breaker::DbBreaker,
    /// Event streams open per token.
    pub streams: crate::ratelimit::state::StreamSlots,
    /// Each plan's API rate limit, read from the catalogue at most once a minute.
    pub plan_limits: crate::ratelimit::state::PlanLimits,
    /// Reverse proxies whose forwarding header names the client.
    pub proxies: crate::client_addr::TrustedProxies,
    /// `Idempotency-Key` records, answers sealed.
    pub idempotency: crate::idempotency::Idempotency,
}

impl std::ops::Deref for Services {
    type Target = chom_runtime::Services;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl Services {
    /// Wires the runtime's services (connecting to the database and migrating it, to Redis if
    /// configured) and the HTTP parts.
    ///
    /// # Errors
    /// The database cannot be opened or migrated; a setting is invalid.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let core = chom_runtime::Services::from_settings(settings).await?;
        Self::over(core, settings)
    }

    /// The HTTP parts over already wired services.
    ///
    /// # Errors
    /// The trusted proxies are malformed.
    pub fn over(core: chom_runtime::Services, settings: &Settings) -> anyhow::Result<Self> {
        let idempotency = crate::idempotency::Idempotency::new(
            core.idempotency.clone(),
            Arc::clone(&core.sealer),
            settings.server.max_body_bytes,
        );
        Ok(Self {
            limits: AuthLimits {
                per_ip_per_minute: settings.security.auth_requests_per_minute,
                password_attempts: settings.security.password_attempts_per_15_min,
                api_per_minute: settings.security.api_requests_per_minute,
                sensitive_per_minute: settings.security.sensitive_operations_per_minute,
                admin_two_factor: settings.security.require_admin_two_factor,
            },
            plan_limits: crate::ratelimit::state::PlanLimits::default(),
            streams: crate::ratelimit::state::StreamSlots::default(),
            db_breaker: crate::breaker::DbBreaker::default(),
            body_timeout: Duration::from_millis(settings.server.body_timeout_ms.max(1)),
            proxies: crate::client_addr::TrustedProxies::from_settings(settings)?,
            idempotency,
            core,
        })
    }
}
