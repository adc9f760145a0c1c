//! The jobs of this context, collected by `chom-runtime` (`jobs()` for the handlers,
//! `schedules()` for the periodic ones): `backup::run` has the site's agent write a backup,
//! `backup::restore` has the target site's agent restore one, `backup::schedule` (every 5
//! minutes) starts the scheduled backups that are due, `backup::prune` (daily) applies the
//! plans' retention to the records and the repositories, `backup::verify` (daily) restores a
//! sample off the servers and checks it against the manifests, `backup::watch` (hourly) alerts
//! on sites whose schedule's latest occurrence has no completed backup, and
//! `backup::send_alert` turns an alert into one `backup::mail_alert` per owner and admin of the
//! organization.

use crate::service::{
    AlertJob, AlertMail, BackupJob, Backups, MAIL_ALERT, PRUNE_BACKUPS, RUN_BACKUP, RUN_RESTORE,
    RestoreJob, SCHEDULE_BACKUPS, SEND_ALERT, VERIFY_BACKUPS, WATCH_BACKUPS,
};
use chom_auth::mail::{Mailer, OutgoingEmail};
use chom_kernel::jobs::{Job, JobError, Registration, Schedule};
use std::sync::Arc;
use std::time::Duration;

impl Job for BackupJob {
    const KIND: &'static str = RUN_BACKUP;
}

impl Job for RestoreJob {
    const KIND: &'static str = RUN_RESTORE;
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retryable(anyhow::anyhow!("{e}"))
}

/// Every handler of this context; alerts are e-mailed through `mailer`, with links under
/// `public_url`.
#[must_use]
pub fn jobs(backups: &Backups, mailer: Arc<dyn Mailer>, public_url: &str) -> Vec<Registration> {
    let base = public_url.trim_end_matches('/').to_owned();
    let alert = backups.clone();
    let watch = backups.clone();
    let run = backups.clone();
    let restore = backups.clone();
    let schedule = backups.clone();
    let prune = backups.clone();
    let verify = backups.clone();
    vec![
        Registration::payload(SEND_ALERT, move |job: AlertJob, _claimed| {
            let (backups, base) = (alert.clone(), base.clone());
            async move {
                backups.fan_out_alert(&job, &base).await.map_err(retry)?;
                Ok(())
            }
        }),
        Registration::payload(MAIL_ALERT, move |mail: AlertMail, _claimed| {
            let mailer = mailer.clone();
            async move {
                let email = OutgoingEmail {
                    to: mail.to,
                    subject: mail.subject,
                    body: mail.body,
                    secrets: Vec::new(),
                };
                mailer.send(&email).await.map_err(JobError::Retryable)
            }
        }),
        Registration::periodic(WATCH_BACKUPS, move || {
            let backups = watch.clone();
            async move {
                let watched = backups
                    .watch(time::OffsetDateTime::now_utc())
                    .await
                    .map_err(retry)?;
                if watched.overdue > 0 {
                    tracing::warn!(?watched, "sites without a recent backup");
                }
                Ok(())
            }
        }),
        Registration::periodic(VERIFY_BACKUPS, move || {
            let backups = verify.clone();
            async move {
                let verified = backups
                    .verify_sample(time::OffsetDateTime::now_utc(), 20)
                    .await
                    .map_err(retry)?;
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
                    .map_err(retry)?;
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
                    .map_err(retry)?;
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
        // Hourly: sites whose schedule's latest occurrence has no completed backup.
        Schedule::every("backup watch", WATCH_BACKUPS, Duration::from_secs(3600)),
        // Daily: up to 20 sites' newest backups restored off their servers and checked.
        Schedule::every(
            "backup verification",
            VERIFY_BACKUPS,
            Duration::from_secs(86_400),
        ),
    ]
}
