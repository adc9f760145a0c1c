//! The job handlers and schedules of this build, and the worker that runs them (in `chom-worker`,
//! or inside `chom-api` on the embedded default).

use crate::config::Settings;
use crate::wiring::Services;
use chom_jobs::{
    JobError, Registration, Registry, RunStats, Runner, RunnerConfig, Schedule, Scheduler,
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deletes finished jobs: `done` after 7 days, `dead` after 30 (they hold the errors to read);
/// and idempotency keys past their 24 hours.
pub const PRUNE_JOBS: &str = "system::prune_jobs";

/// Every context's handlers, and the system's own.
#[must_use]
pub fn registrations(services: &Services) -> Vec<Registration> {
    let mut all = chom_tenancy::jobs::jobs(
        &services.identity,
        services.mailer.clone(),
        &services.public_url,
    );
    all.extend(chom_infrastructure::jobs::jobs(&services.fleet));
    all.extend(chom_site_hosting::jobs::jobs(&services.sites));
    all.extend(chom_backup::jobs::jobs(
        &services.backups,
        services.mailer.clone(),
        &services.public_url,
    ));
    all.extend(chom_team::jobs::jobs(
        &services.team,
        &services.audit,
        services.mailer.clone(),
        &services.public_url,
    ));
    let queue = services.queue.clone();
    let idempotency = services.idempotency.clone();
    all.push(Registration::periodic(PRUNE_JOBS, move || {
        let queue = queue.clone();
        let idempotency = idempotency.clone();
        async move {
            let deleted = queue
                .prune(
                    Duration::from_secs(7 * 86_400),
                    Duration::from_secs(30 * 86_400),
                )
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            tracing::info!(deleted, "pruned finished jobs");
            let expired = idempotency
                .purge_expired(time::OffsetDateTime::now_utc())
                .await
                .map_err(|e| JobError::Retryable(e.into()))?;
            tracing::info!(expired, "purged expired idempotency keys");
            Ok(())
        }
    }));
    all
}

/// Every handler, by kind.
#[must_use]
pub fn registry(services: &Services) -> Registry {
    registrations(services)
        .into_iter()
        .fold(Registry::new(), Registry::register)
}

/// Every periodic job: each context's, and the system's.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    let mut all = vec![Schedule::every(
        "prune-jobs",
        PRUNE_JOBS,
        Duration::from_secs(3600),
    )];
    all.extend(chom_infrastructure::jobs::schedules());
    all.extend(chom_site_hosting::jobs::schedules());
    all.extend(chom_backup::jobs::schedules());
    all.extend(chom_team::jobs::schedules());
    all
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
    let schedules = if settings.worker.schedule {
        schedules()
    } else {
        Vec::new()
    };
    let scheduler = Scheduler::new(services.queue.clone(), schedules, Duration::from_secs(30));
    let scheduling = tokio::spawn(scheduler.run(shutdown.clone()));
    let linking = tokio::spawn(link_audit(services.audit.clone(), shutdown.clone()));
    let stats = runner.run(shutdown).await;
    scheduling.await?;
    linking.await?;
    stats
}

/// The audit linker (ADR 0010): every [`chom_team::audit::LINK_EVERY`], the entries appended
/// since are numbered and hashed into their chains. Every worker runs one (the API's embedded
/// worker too); they take turns on the database's linker lock. A last pass at shutdown leaves
/// nothing pending.
pub async fn link_audit(audit: chom_team::audit::Audit, shutdown: CancellationToken) {
    loop {
        if let Err(e) = audit.link_pending().await {
            tracing::warn!(error = %e, "audit: linking failed; trying again");
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(chom_team::audit::LINK_EVERY) => {}
        }
    }
    if let Err(e) = audit.link_pending().await {
        tracing::warn!(error = %e, "audit: the last linking at shutdown failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    async fn services(dir: &std::path::Path) -> Services {
        let mut settings = Settings::default();
        settings.database.sqlite_path = dir.join("chom.db");
        settings.ssh.key_file = dir.join("ssh/id_ed25519");
        settings.ssh.state_dir = dir.join("ssh");
        settings.mail.outbox_dir = Some(dir.join("outbox"));
        match Services::from_settings(&settings).await {
            Ok(s) => s,
            Err(e) => panic!("services: {e:#}"),
        }
    }

    /// A periodic handler without a schedule never runs (the original system shipped the
    /// reaper and the health sweep that way): each periodic kind is scheduled, each schedule
    /// has a handler, and no kind is registered twice.
    #[tokio::test]
    async fn every_periodic_handler_is_scheduled_and_every_schedule_is_handled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let services = services(dir.path()).await;
        let registrations = registrations(&services);
        let handled: BTreeSet<&str> = registrations.iter().map(Registration::kind).collect();
        assert_eq!(
            handled.len(),
            registrations.len(),
            "a kind registered twice"
        );
        let periodic: BTreeSet<&str> = registrations
            .iter()
            .filter(|r| r.is_periodic())
            .map(Registration::kind)
            .collect();
        let schedules = schedules();
        let scheduled: BTreeSet<&str> = schedules.iter().map(|s| s.kind.as_str()).collect();
        let unscheduled: Vec<&&str> = periodic.difference(&scheduled).collect();
        assert!(
            unscheduled.is_empty(),
            "periodic handlers without a schedule: {unscheduled:?}"
        );
        let unhandled: Vec<&&str> = scheduled.difference(&handled).collect();
        assert!(
            unhandled.is_empty(),
            "schedules without a handler: {unhandled:?}"
        );
        // A schedule enqueues no payload: its kind must be one a periodic handler takes.
        let not_periodic: Vec<&&str> = scheduled.difference(&periodic).collect();
        assert!(
            not_periodic.is_empty(),
            "schedules of kinds that expect a payload: {not_periodic:?}"
        );
        let names: BTreeSet<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), schedules.len(), "two schedules share a name");
        for kind in [
            chom_site_hosting::REAP_OPERATIONS,
            chom_infrastructure::jobs::FLEET_HEALTH,
        ] {
            let every = schedules.iter().find(|s| s.kind == kind).map(|s| s.every);
            assert_eq!(
                every,
                Some(Duration::from_secs(300)),
                "{kind} every 5 minutes"
            );
        }
    }

    /// `worker.schedule = false` keeps a process from enqueueing periodic jobs (it still runs
    /// what others enqueue); the default enqueues every schedule's occurrence at start.
    #[tokio::test]
    async fn a_process_schedules_periodic_jobs_unless_told_not_to() {
        for (schedule, expect_jobs) in [(false, false), (true, true)] {
            let dir = tempfile::tempdir().expect("temp dir");
            let services = services(dir.path()).await;
            let queue = services.queue.clone();
            let mut settings = Settings::default();
            settings.worker.schedule = schedule;
            let shutdown = CancellationToken::new();
            let stop = shutdown.clone();
            let worker = tokio::spawn(run_worker(services, settings, "test", shutdown));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            let mut total = 0;
            while tokio::time::Instant::now() < deadline {
                let c = queue.counts().await.expect("counts");
                total = c.queued + c.running + c.done + c.dead;
                if total >= i64::try_from(schedules().len()).expect("count") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stop.cancel();
            worker.await.expect("joined").expect("worker");
            assert_eq!(
                total > 0,
                expect_jobs,
                "schedule = {schedule}: {total} jobs"
            );
        }
    }
}
