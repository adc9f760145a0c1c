//! The scheduling job: every few minutes, each enabled schedule whose occurrence (in its time
//! zone, spread over the hour by site) has come gets its backup, at most `max_per_server`
//! pending or running on one server; the rest wait for the next tick. A backup the plan's
//! storage refuses is recorded as a failed scheduled backup and alerted (the owners and admins
//! are e-mailed); it is not retried until the next occurrence.

use super::alerts::AlertJob;
use super::{BackupError, Backups};
use crate::model::{Backup, BackupStatus, Trigger, timing};
use chom_agent_protocol::backup::BackupKind;
use chom_kernel::audit::Actor;
use chom_kernel::{StoreError, TenantId, VpsId};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The periodic job that starts due scheduled backups.
pub const SCHEDULE_BACKUPS: &str = "backup::schedule";

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Backups started.
    pub started: usize,
    /// Due, left for a later tick (the server's limit, another operation on the site).
    pub deferred: usize,
    /// Refused (storage, the site's state) and recorded as failed.
    pub refused: usize,
}

impl Backups {
    /// Records a scheduled backup that could not start, with why, and alerts its organization.
    async fn record_refusal(
        &self,
        tenant: TenantId,
        site: chom_kernel::SiteId,
        why: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let work = self.work()?;
        let mut backup = Backup::new(tenant, site, BackupKind::Full, Trigger::Scheduled);
        backup.created_at = at;
        backup.status = BackupStatus::Failed;
        backup.error = Some(why.to_owned());
        backup.finished_at = Some(OffsetDateTime::now_utc());
        let alert = AlertJob::failed(&backup);
        let mut uow = self.ports.store.begin().await?;
        work.backups.insert_backup(uow.as_mut(), &backup).await?;
        work.backups.save_backup(uow.as_mut(), &backup).await?;
        self.raise(uow.as_mut(), &alert).await?;
        uow.commit().await
    }

    /// Starts the scheduled backups due at `now` (the job passes the clock; tests pass theirs).
    ///
    /// # Errors
    /// `Store` (the tick is retried; what it started stays started).
    #[tracing::instrument(name = "backups.schedule_due", skip(self))]
    pub async fn schedule_due(&self, now: OffsetDateTime) -> Result<Tick, StoreError> {
        let work = self.work()?;
        let limit = work.max_backups_per_server;
        let mut active: HashMap<VpsId, i64> = work
            .backups
            .active_backups_by_server()
            .await?
            .into_iter()
            .collect();
        let mut tick = Tick::default();
        for scheduled in self.ports.schedules.enabled_schedules().await? {
            let (tenant, schedule) = (scheduled.tenant_id, &scheduled.schedule);
            let occurrence = match timing::due(schedule, now, scheduled.last_scheduled) {
                Ok(Some(o)) => o,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(site = %schedule.site_id, error = %e, "schedule skipped");
                    continue;
                }
            };
            let Ok(site) = self.live_site(tenant, schedule.site_id).await else {
                continue;
            };
            let running = active.get(&site.vps_id).copied().unwrap_or(0);
            if running >= limit {
                tick.deferred += 1;
                continue;
            }
            let organization = work
                .orgs
                .get_tenant(tenant)
                .await?
                .map(|t| t.organization_id);
            let started = self
                .enqueue_backup(
                    tenant,
                    site.id,
                    BackupKind::Full,
                    (Trigger::Scheduled, &Actor::system(), organization, now),
                    None,
                )
                .await;
            match started {
                Ok(_) => {
                    tick.started += 1;
                    *active.entry(site.vps_id).or_insert(0) += 1;
                    tracing::info!(site = %site.id, %occurrence, "scheduled backup started");
                }
                Err(BackupError::Busy(_)) => tick.deferred += 1,
                Err(
                    e @ (BackupError::StorageLimitExceeded { .. } | BackupError::SiteNotReady(_)),
                ) => {
                    let code = match e {
                        BackupError::StorageLimitExceeded { .. } => "STORAGE_LIMIT_EXCEEDED",
                        _ => "INVALID_STATE",
                    };
                    self.record_refusal(tenant, site.id, &format!("{code}: {e}"), now)
                        .await?;
                    tick.refused += 1;
                }
                Err(BackupError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(site = %site.id, error = %e, "scheduled backup not started");
                }
            }
        }
        Ok(tick)
    }
}
