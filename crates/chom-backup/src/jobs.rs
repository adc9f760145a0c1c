//! The jobs of this context, collected by `chom-runtime` (`jobs()` for the handlers,
//! `schedules()` for the periodic ones): `backup::run` has the site's agent write a backup,
//! `backup::restore` has the target site's agent restore one, `backup::schedule` (every 5
//! minutes) starts the scheduled backups that are due, `backup::prune` (daily) applies the
//! plans' retention to the records and the repositories, `backup::verify` (daily) restores a
//! sample off the servers and checks it against the manifests.
//! Scheduled backups, pruning and verified restores are planned (issue 13).

use crate::service::{
    BackupJob, Backups, PRUNE_BACKUPS, RUN_BACKUP, RUN_RESTORE, RestoreJob, SCHEDULE_BACKUPS,
    VERIFY_BACKUPS,
};
use chom_kernel::jobs::{Job, JobError, Registration, Schedule};
use std::time::Duration;

impl Job for BackupJob {
    const KIND: &'static str = RUN_BACKUP;
}

impl Job for RestoreJob {
    const KIND: &'static str = RUN_RESTORE;
}

/// Every handler of this context.
#[must_use]
pub fn jobs(backups: &Backups) -> Vec<Registration> {
    let run = backups.clone();
    let restore = backups.clone();
    let schedule = backups.clone();
    let prune = backups.clone();
    let verify = backups.clone();
    vec![
        Registration::periodic(VERIFY_BACKUPS, move || {
            let backups = verify.clone();
            async move {
                let verified = backups
                    .verify_sample(time::OffsetDateTime::now_utc(), 20)
                    .await
                    .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
                tracing::info!(?verified, "backups verified");
                Ok(())
            }
        }),
        Registration::periodic(PRUNE_BACKUPS, move || {
            let backups = prune.clone();
            async move {
                let pruned = backups
                    .prune(time::OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
                tracing::info!(?pruned, "backup retention applied");
                Ok(())
            }
        }),
        Registration::periodic(SCHEDULE_BACKUPS, move || {
            let backups = schedule.clone();
            async move {
                let tick = backups
                    .schedule_due(time::OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
                if tick.started + tick.deferred + tick.refused > 0 {
                    tracing::info!(?tick, "scheduled backups");
                }
                Ok(())
            }
        }),
        Registration::job(move |job: BackupJob, claimed| {
            let backups = run.clone();
            async move {
                let last = claimed.attempt >= claimed.max_attempts;
                backups.run_backup(&job, last).await.map_err(JobError::from)
            }
        }),
        Registration::job(move |job: RestoreJob, claimed| {
            let backups = restore.clone();
            async move {
                let last = claimed.attempt >= claimed.max_attempts;
                backups
                    .run_restore(&job, last)
                    .await
                    .map_err(JobError::from)
            }
        }),
    ]
}

/// When this context's periodic handlers run.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    // Every 5 minutes: a site's backup starts within its hour's spread plus one tick.
    vec![
        Schedule::every(
            "backup scheduling",
            SCHEDULE_BACKUPS,
            Duration::from_secs(300),
        ),
        // Daily: retention is counted in days.
        Schedule::every(
            "backup retention",
            PRUNE_BACKUPS,
            Duration::from_secs(86_400),
        ),
        // Daily: up to 20 sites' newest backups restored off their servers and checked.
        Schedule::every(
            "backup verification",
            VERIFY_BACKUPS,
            Duration::from_secs(86_400),
        ),
    ]
}
