//! No silent failures: a backup that failed (or was refused), a verification that failed, and
//! a site whose schedule's latest occurrence has no completed backup by its deadline each
//! raise an alert: an error line, the `chom_backup_alerts_total{reason}` counter, and a job
//! that e-mails the organization's owners and admins. The alert job is enqueued in the unit of
//! work that records the failure, with a key that makes it once per failure (per backup, per
//! verification, per missed occurrence); it fans out into one `backup::mail_alert` job per
//! recipient, each retried on its own (16 attempts, hours), so nobody is told twice and a
//! long mail outage loses nothing. `backup::watch` (hourly) finds the overdue sites and sets
//! the `chom_backup_overdue_sites` gauge.

use super::Backups;
use crate::model::{Backup, timing};
use chom_auth::mail::OutgoingEmail;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{BackupId, Role, SiteId, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The job that turns an alert into one e-mail job per owner and admin of the organization.
pub const SEND_ALERT: &str = "backup::send_alert";

/// The job that sends one alert e-mail to one person (retried on its own, for hours).
pub const MAIL_ALERT: &str = "backup::mail_alert";

/// What [`MAIL_ALERT`] carries: the message itself (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMail {
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// The periodic job that finds sites without a backup their schedule asked for.
pub const WATCH_BACKUPS: &str = "backup::watch";

/// Why the organization is alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertReason {
    /// A backup failed or was refused.
    Failed,
    /// A backup's verified restore failed.
    VerificationFailed,
    /// No backup completed for the schedule's latest occurrence by its deadline.
    Overdue,
}

impl AlertReason {
    /// The label of the alert counter.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::VerificationFailed => "verification_failed",
            Self::Overdue => "overdue",
        }
    }
}

/// What the alert job carries (ids and times only: the handler reads the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertJob {
    /// Tenant of the site.
    pub tenant_id: TenantId,
    /// The site.
    pub site_id: SiteId,
    /// Why.
    pub reason: AlertReason,
    /// The backup that failed (`Failed`, `VerificationFailed`).
    #[serde(default)]
    pub backup_id: Option<BackupId>,
    /// The occurrence without a backup (`Overdue`), or when the verification ran.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

impl AlertJob {
    /// `backup` failed (or was refused).
    #[must_use]
    pub fn failed(backup: &Backup) -> Self {
        Self {
            tenant_id: backup.tenant_id,
            site_id: backup.site_id,
            reason: AlertReason::Failed,
            backup_id: Some(backup.id),
            at: None,
        }
    }

    /// `backup`'s verification at `at` failed.
    #[must_use]
    pub fn unverified(backup: &Backup, at: OffsetDateTime) -> Self {
        Self {
            reason: AlertReason::VerificationFailed,
            at: Some(at),
            ..Self::failed(backup)
        }
    }

    /// The key that makes the alert once per failure.
    fn key(&self) -> String {
        let what = self
            .backup_id
            .map_or_else(|| self.site_id.to_string(), |b| b.to_string());
        let when = self.at.map_or(0, OffsetDateTime::unix_timestamp);
        format!("backup-alert:{}:{what}:{when}", self.reason.as_str())
    }
}

/// What one watch found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// Sites without a backup for their schedule's latest occurrence past its deadline.
    pub overdue: usize,
    /// Of those, the ones alerted now (the others were alerted for that occurrence already).
    pub alerted: usize,
}

impl Backups {
    /// Raises `alert` in `uow` (the unit that records what went wrong): the error line, the
    /// counter, and the e-mail job, once per failure. `true` when it was not raised before.
    ///
    /// # Errors
    /// `Store`.
    pub(super) async fn raise(
        &self,
        uow: &mut dyn UnitOfWork,
        alert: &AlertJob,
    ) -> Result<bool, StoreError> {
        let payload =
            serde_json::to_value(alert).map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
        let job = NewJob::new(SEND_ALERT, payload)
            .max_attempts(8)
            .tenant(alert.tenant_id)
            .unique_key(alert.key());
        let fresh = uow.enqueue(job).await?.is_some();
        if fresh {
            metrics::counter!("chom_backup_alerts_total", "reason" => alert.reason.as_str())
                .increment(1);
            tracing::error!(
                site = %alert.site_id, backup = ?alert.backup_id, reason = alert.reason.as_str(),
                "backup alert"
            );
        }
        Ok(fresh)
    }

    /// Raises an alert for every site whose schedule's latest occurrence has no completed
    /// backup by its deadline at `now` (the job passes the clock; tests pass theirs).
    ///
    /// # Errors
    /// `Store` (the watch is retried; alerts raised stay raised).
    #[tracing::instrument(name = "backups.watch", skip(self))]
    pub async fn watch(&self, now: OffsetDateTime) -> Result<Watched, StoreError> {
        let mut watched = Watched::default();
        for scheduled in self.ports.schedules.enabled_schedules().await? {
            let occurrence = match timing::overdue(
                &scheduled.schedule,
                now,
                scheduled.last_completed,
            ) {
                Ok(Some(o)) => o,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(site = %scheduled.schedule.site_id, error = %e, "schedule skipped");
                    continue;
                }
            };
            watched.overdue += 1;
            let alert = AlertJob {
                tenant_id: scheduled.tenant_id,
                site_id: scheduled.schedule.site_id,
                reason: AlertReason::Overdue,
                backup_id: None,
                at: Some(occurrence),
            };
            let mut uow = self.ports.store.begin().await?;
            if self.raise(uow.as_mut(), &alert).await? {
                watched.alerted += 1;
            }
            uow.commit().await?;
        }
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("chom_backup_overdue_sites").set(watched.overdue as f64);
        Ok(watched)
    }

    /// Enqueues one [`MAIL_ALERT`] job per e-mail of `alert` (each once: a retried fan-out
    /// adds none twice), so a failed send is retried for that person alone. Returns how many
    /// were new.
    ///
    /// # Errors
    /// `Store` (the job is retried).
    pub async fn fan_out_alert(&self, alert: &AlertJob, base: &str) -> Result<usize, StoreError> {
        let emails = self.alert_emails(alert, base).await?;
        let mut uow = self.ports.store.begin().await?;
        let mut fresh = 0;
        for email in emails {
            let key = format!("{}:{}", alert.key(), email.to);
            let mail = AlertMail {
                to: email.to,
                subject: email.subject,
                body: email.body,
            };
            let payload = serde_json::to_value(&mail)
                .map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
            let job = NewJob::new(MAIL_ALERT, payload)
                .max_attempts(16)
                .tenant(alert.tenant_id)
                .unique_key(key);
            if uow.enqueue(job).await?.is_some() {
                fresh += 1;
            }
        }
        uow.commit().await?;
        Ok(fresh)
    }

    /// The e-mails of `alert`: one to each owner and admin of the site's organization. None
    /// when the site or its tenant is gone (nobody left to tell).
    ///
    /// # Errors
    /// `Store` (the job is retried).
    pub async fn alert_emails(
        &self,
        alert: &AlertJob,
        base: &str,
    ) -> Result<Vec<OutgoingEmail>, StoreError> {
        let work = self.work()?;
        let Some(site) = work.sites.get_site(alert.tenant_id, alert.site_id).await? else {
            return Ok(Vec::new());
        };
        let Some(tenant) = work.orgs.get_tenant(alert.tenant_id).await? else {
            return Ok(Vec::new());
        };
        let backup = match alert.backup_id {
            Some(id) => work.backups.get_backup(alert.tenant_id, id).await?,
            None => None,
        };
        let domain = &site.domain;
        let (subject, what) = match alert.reason {
            AlertReason::Failed => (
                format!("Backup failed: {domain}"),
                format!(
                    "A backup of {domain} failed: {}.",
                    backup
                        .as_ref()
                        .and_then(|b| b.error.as_deref())
                        .unwrap_or("no reason recorded")
                ),
            ),
            AlertReason::VerificationFailed => (
                format!("Backup verification failed: {domain}"),
                format!(
                    "The test restore of a backup of {domain} failed: {}. The backup may not restore; make a new one and check the repository.",
                    backup
                        .as_ref()
                        .and_then(|b| b.verification.as_ref())
                        .map(|v| v.detail.as_str())
                        .unwrap_or("no detail recorded")
                ),
            ),
            AlertReason::Overdue => (
                format!("No recent backup: {domain}"),
                format!(
                    "{domain} has no completed backup since its scheduled time {}. Its latest backups may have failed or not run.",
                    alert.at.map_or_else(String::new, |at| at.to_string())
                ),
            ),
        };
        let link = alert.backup_id.map_or_else(
            || format!("{base}/api/v1/backups?site_id={}", site.id),
            |b| format!("{base}/api/v1/backups/{b}"),
        );
        let body = format!(
            "Hello,\n\n{what}\n\nDetails: {link}\n\nYou receive this as an owner or admin of the organization.\n"
        );
        let mut emails = Vec::new();
        let mut after = None;
        loop {
            let page = work
                .orgs
                .page_members(tenant.organization_id, after, 100)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.user_id);
            emails.extend(
                page.iter()
                    .filter(|(m, _)| m.role >= Role::Admin)
                    .map(|(_, user)| OutgoingEmail {
                        to: user.email.as_str().to_owned(),
                        subject: subject.clone(),
                        body: body.clone(),
                        secrets: Vec::new(),
                    }),
            );
            if page.len() < 100 {
                break;
            }
        }
        Ok(emails)
    }
}
