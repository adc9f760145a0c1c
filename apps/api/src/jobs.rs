//! The job handlers and schedules of this build, and the worker that runs them (in `chom-worker`,
//! or inside `chom-api` on the embedded default).

use crate::config::Settings;
use crate::wiring::Services;
use chom_jobs::{Registry, RunStats, Runner, RunnerConfig, Schedule, Scheduler};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deletes finished jobs: `done` after 7 days, `dead` after 30 (they hold the errors to read).
pub const PRUNE_JOBS: &str = "system::prune_jobs";

/// Every handler, by kind.
#[must_use]
pub fn registry(services: &Services) -> Registry {
    let queue = services.queue.clone();
    Registry::new().with_fn(PRUNE_JOBS, move |_ctx| {
        let queue = queue.clone();
        async move {
            let deleted = queue
                .prune(
                    Duration::from_secs(7 * 86_400),
                    Duration::from_secs(30 * 86_400),
                )
                .await
                .map_err(|e| chom_jobs::JobError::Retryable(e.into()))?;
            tracing::info!(deleted, "pruned finished jobs");
            Ok(())
        }
    })
}

/// Periodic jobs.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    vec![Schedule::every(
        "prune-jobs",
        PRUNE_JOBS,
        Duration::from_secs(3600),
    )]
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
