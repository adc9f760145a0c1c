//! The job handlers and schedules of this build, and the worker that runs them (in `chom-worker`,
//! or inside `chom-api` on the embedded default).

use crate::config::Settings;
use crate::wiring::Services;
use chom_auth::mail::OutgoingEmail;
use chom_auth::mail::jobs::{self as mail_jobs, UserJob};
use chom_auth::ports::Purpose;
use chom_jobs::{
    JobContext, JobError, Registry, RunStats, Runner, RunnerConfig, Schedule, Scheduler,
};
use chom_site_hosting::{
    JobOutcome, MEASURE_STORAGE, OperationJob, REAP_OPERATIONS, RENEW_CERTIFICATES, RUN_OPERATION,
};
use chom_tenancy::admin::{TENANT_STATUS_CHANGED, TenantStatusChanged};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Checks every server's health and records the verdicts.
pub const FLEET_HEALTH: &str = "infrastructure::health_check_all";

/// Deletes finished jobs: `done` after 7 days, `dead` after 30 (they hold the errors to read);
/// and idempotency keys past their 24 hours.
pub const PRUNE_JOBS: &str = "system::prune_jobs";

fn payload(ctx: &JobContext) -> Result<UserJob, JobError> {
    serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| JobError::Permanent(anyhow::anyhow!("bad payload: {e}")))
}

async fn user_of(
    services: &Services,
    id: chom_kernel::UserId,
) -> Result<chom_auth::User, JobError> {
    services
        .identity
        .ports()
        .users
        .get_user(id)
        .await
        .map_err(|e| JobError::Retryable(e.into()))?
        .ok_or_else(|| JobError::Permanent(anyhow::anyhow!("user {id} no longer exists")))
}

async fn send(
    services: &Services,
    to: &str,
    subject: &str,
    body: String,
    secrets: Vec<String>,
) -> Result<(), JobError> {
    let email = OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
        secrets,
    };
    services
        .mailer
        .send(&email)
        .await
        .map_err(JobError::Retryable)
}

/// Runs one identity e-mail job.
async fn identity_mail(services: Services, ctx: JobContext) -> Result<(), JobError> {
    let job = payload(&ctx)?;
    let user = user_of(&services, job.user_id).await?;
    let base = services.public_url.trim_end_matches('/');
    let name = user.first_name.as_str();
    match ctx.job.kind.as_str() {
        mail_jobs::SEND_VERIFICATION => {
            if user.email_verified_at.is_some() {
                return Ok(());
            }
            let token = services
                .identity
                .mint_one_time(user.id, Purpose::VerifyEmail)
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            let body = format!(
                "Hello {name},\n\nconfirm your e-mail address for CHOM by opening this link (valid 24 hours):\n\n  {base}/api/v1/auth/verify-email#token={token}\n\nor by sending this token to POST /api/v1/auth/verify-email:\n\n  {token}\n\nIf you did not sign up, ignore this message.\n"
            );
            send(
                &services,
                user.email.as_str(),
                "Confirm your e-mail address",
                body,
                vec![token],
            )
            .await
        }
        mail_jobs::SEND_PASSWORD_RESET => {
            let token = services
                .identity
                .mint_one_time(user.id, Purpose::ResetPassword)
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            let body = format!(
                "Hello {name},\n\nsomeone asked to reset your CHOM password. The token below is valid for 60 minutes and works once:\n\n  {token}\n\nSend it with your new password to POST {base}/api/v1/auth/reset-password.\nIf you did not ask, ignore this message: your password is unchanged.\n"
            );
            send(
                &services,
                user.email.as_str(),
                "Reset your password",
                body,
                vec![token],
            )
            .await
        }
        mail_jobs::SEND_DECISION => {
            let (subject, text) = if job.approved == Some(true) {
                (
                    "Your CHOM account is approved",
                    "your account has been approved: you can now log in and choose a plan."
                        .to_owned(),
                )
            } else {
                (
                    "Your CHOM sign-up was not approved",
                    format!(
                        "your sign-up was not approved. Reason: {}",
                        job.reason.as_deref().unwrap_or("not given")
                    ),
                )
            };
            send(
                &services,
                user.email.as_str(),
                subject,
                format!("Hello {name},\n\n{text}\n"),
                Vec::new(),
            )
            .await
        }
        mail_jobs::NOTIFY_ADMINS => {
            let admins = services
                .identity
                .ports()
                .users
                .list_super_admins()
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            for admin in admins {
                let body = format!(
                    "A new sign-up waits for approval:\n\n  {} {} <{}> (username {})\n\nReview it at GET {base}/api/v1/admin/approvals.\n",
                    user.first_name, user.last_name, user.email, user.username
                );
                send(
                    &services,
                    admin.email.as_str(),
                    "New sign-up waiting for approval",
                    body,
                    Vec::new(),
                )
                .await?;
            }
            Ok(())
        }
        other => Err(JobError::Permanent(anyhow::anyhow!(
            "not an identity mail job: {other}"
        ))),
    }
}

/// Every handler, by kind.
#[must_use]
pub fn registry(services: &Services) -> Registry {
    let queue = services.queue.clone();
    let mut registry = Registry::new();
    for kind in [
        mail_jobs::SEND_VERIFICATION,
        mail_jobs::SEND_PASSWORD_RESET,
        mail_jobs::SEND_DECISION,
        mail_jobs::NOTIFY_ADMINS,
    ] {
        let services = services.clone();
        registry = registry.with_fn(kind, move |ctx| identity_mail(services.clone(), ctx));
    }
    let fleet = services.fleet.clone();
    registry = registry.with_fn(FLEET_HEALTH, move |_ctx| {
        let fleet = fleet.clone();
        async move {
            let checked = fleet
                .check_all()
                .await
                .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
            tracing::info!(checked, "fleet health checked");
            Ok(())
        }
    });
    registry = site_jobs(services, registry);
    let idempotency = services.idempotency.clone();
    registry.with_fn(PRUNE_JOBS, move |_ctx| {
        let queue = queue.clone();
        let idempotency = idempotency.clone();
        async move {
            let deleted = queue
                .prune(
                    Duration::from_secs(7 * 86_400),
                    Duration::from_secs(30 * 86_400),
                )
                .await
                .map_err(|e| chom_jobs::JobError::Retryable(e.into()))?;
            tracing::info!(deleted, "pruned finished jobs");
            let expired = idempotency
                .purge_expired()
                .await
                .map_err(|e| chom_jobs::JobError::Retryable(e.into()))?;
            tracing::info!(expired, "purged expired idempotency keys");
            Ok(())
        }
    })
}

fn outcome(e: JobOutcome) -> JobError {
    match e {
        JobOutcome::Retry(m) => JobError::Retryable(anyhow::anyhow!(m)),
        JobOutcome::Permanent(m) => JobError::Permanent(anyhow::anyhow!(m)),
    }
}

/// The site-hosting handlers: operations, the renewal sweep, the tenant status cascade.
fn site_jobs(services: &Services, registry: Registry) -> Registry {
    let sites = services.sites.clone();
    let registry = registry.with_fn(RUN_OPERATION, move |ctx| {
        let sites = sites.clone();
        async move {
            let job: OperationJob = serde_json::from_value(ctx.job.payload.clone())
                .map_err(|e| JobError::Permanent(anyhow::anyhow!("bad payload: {e}")))?;
            let last = ctx.job.attempt >= ctx.job.max_attempts;
            sites.run_operation(&job, last).await.map_err(outcome)
        }
    });
    let sites = services.sites.clone();
    let registry = registry.with_fn(RENEW_CERTIFICATES, move |_ctx| {
        let sites = sites.clone();
        async move {
            let queued = sites
                .renew_expiring(time::OffsetDateTime::now_utc())
                .await
                .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
            tracing::info!(queued, "certificate renewals queued");
            Ok(())
        }
    });
    let sites = services.sites.clone();
    let registry = registry.with_fn(REAP_OPERATIONS, move |_ctx| {
        let sites = sites.clone();
        async move {
            let reaped = sites
                .reap_abandoned()
                .await
                .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
            if reaped > 0 {
                tracing::warn!(reaped, "abandoned operations failed");
            }
            Ok(())
        }
    });
    let sites = services.sites.clone();
    let registry = registry.with_fn(MEASURE_STORAGE, move |_ctx| {
        let sites = sites.clone();
        async move {
            let (measured, skipped) = sites
                .measure_storage()
                .await
                .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
            tracing::info!(measured, skipped, "site disk usage measured");
            Ok(())
        }
    });
    let sites = services.sites.clone();
    registry.with_fn(TENANT_STATUS_CHANGED, move |ctx| {
        let sites = sites.clone();
        async move {
            let event: TenantStatusChanged = serde_json::from_value(ctx.job.payload.clone())
                .map_err(|e| JobError::Permanent(anyhow::anyhow!("bad payload: {e}")))?;
            let changed = sites
                .apply_tenant_status(event.tenant_id)
                .await
                .map_err(outcome)?;
            tracing::info!(tenant = %event.tenant_id, announced = event.status.as_str(), changed, "tenant status applied to its sites");
            Ok(())
        }
    })
}

/// Periodic jobs.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    vec![
        Schedule::every("prune-jobs", PRUNE_JOBS, Duration::from_secs(3600)),
        Schedule::every(
            "renew-certificates",
            RENEW_CERTIFICATES,
            Duration::from_secs(86_400),
        )
        .offset(Duration::from_secs(3 * 3600)),
        Schedule::every(
            "measure-storage",
            MEASURE_STORAGE,
            Duration::from_secs(3600),
        )
        .offset(Duration::from_secs(15 * 60)),
    ]
}

/// Runner tuning from the settings.
#[must_use]
pub fn runner_config(settings: &Settings, role: &str) -> RunnerConfig {
    let lease = Duration::from_secs(settings.worker.lease_secs);
    RunnerConfig {
        worker_prefix: format!(
            "{role}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into())
        ),
        concurrency: settings.worker.concurrency,
        lease,
        heartbeat_every: lease / 3,
        shutdown_grace: Duration::from_secs(settings.worker.shutdown_grace_secs),
        ..RunnerConfig::default()
    }
}

/// Runs the runner and the scheduler until `shutdown`; returns what the runner did.
///
/// # Errors
/// The runner's background tasks panicked.
pub async fn run_worker(
    services: Services,
    settings: Settings,
    role: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<RunStats> {
    let runner = Runner::new(
        services.queue.clone(),
        registry(&services),
        runner_config(&settings, role),
    );
    let scheduler = Scheduler::new(services.queue.clone(), schedules(), Duration::from_secs(30));
    let scheduling = tokio::spawn(scheduler.run(shutdown.clone()));
    let stats = runner.run(shutdown).await;
    scheduling.await?;
    stats
}
