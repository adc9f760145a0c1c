//! Reading and saving a site's backup schedule.

use super::{BackupError, Backups};
use crate::model::{BackupSchedule, ScheduleInput};
use chom_kernel::audit::AuditEvent;
use chom_kernel::{SiteId, TenantContext};
use chom_team::Action;
use time::OffsetDateTime;

impl Backups {
    /// The schedule of one of the caller's tenant's sites: the saved one, or the default.
    ///
    /// # Errors
    /// `NotFound` for a foreign, deleted or unknown site; `Store`.
    #[tracing::instrument(name = "backups.schedule", skip_all, fields(tenant = %ctx.tenant_id(), user = %ctx.user_id(), %site))]
    pub async fn schedule(
        &self,
        ctx: &TenantContext,
        site: SiteId,
    ) -> Result<BackupSchedule, BackupError> {
        let tenant = ctx.tenant_id();
        if let Some(saved) = self.ports.schedules.get_schedule(tenant, site).await? {
            return Ok(saved);
        }
        // Nothing saved: the default, once the site is known to be the tenant's.
        let mut uow = self.ports.store.begin().await?;
        let exists = self
            .ports
            .schedules
            .site_exists(uow.as_mut(), tenant, site)
            .await?;
        uow.rollback().await?;
        if exists {
            Ok(BackupSchedule::default_for(site))
        } else {
            Err(BackupError::NotFound)
        }
    }

    /// Saves the schedule of one of the caller's tenant's sites (members and above).
    ///
    /// # Errors
    /// `Forbidden` (checked before anything is read), `Invalid` with every invalid field,
    /// `NotFound` for a foreign, deleted or unknown site; `Store`.
    #[tracing::instrument(name = "backups.set_schedule", skip_all, fields(tenant = %ctx.tenant_id(), user = %ctx.user_id(), %site))]
    pub async fn set_schedule(
        &self,
        ctx: &TenantContext,
        site: SiteId,
        input: ScheduleInput,
    ) -> Result<BackupSchedule, BackupError> {
        let role = ctx.role();
        if !chom_team::allows(role, Action::ManageSites) {
            return Err(BackupError::Forbidden(role.as_str()));
        }
        let tenant = ctx.tenant_id();
        let before = self.ports.schedules.get_schedule(tenant, site).await?;
        let mut uow = self.ports.store.begin().await?;
        // The site before the body: a foreign id is 404 whatever was sent.
        if !self
            .ports
            .schedules
            .site_exists(uow.as_mut(), tenant, site)
            .await?
        {
            return Err(BackupError::NotFound);
        }
        // Milliseconds, the precision both backends keep: the answer equals what a read returns.
        let now = OffsetDateTime::now_utc();
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now);
        let schedule = input.validate(site, now).map_err(BackupError::Invalid)?;
        self.ports
            .schedules
            .put_schedule(uow.as_mut(), tenant, &schedule)
            .await?;
        let event = AuditEvent::by_member(ctx, "backup_schedule.update", "site", site)
            .with_summary(serde_json::json!({
                "before": before.as_ref().map(summary),
                "after": summary(&schedule),
            }));
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        tracing::info!(
            frequency = schedule.frequency.as_str(),
            hour = schedule.hour,
            enabled = schedule.enabled,
            "backup schedule saved"
        );
        Ok(schedule)
    }
}

/// What the audit log keeps of a schedule.
fn summary(s: &BackupSchedule) -> serde_json::Value {
    serde_json::json!({
        "frequency": s.frequency.as_str(),
        "hour": s.hour,
        "weekday": s.weekday.map(crate::model::Weekday::as_str),
        "time_zone": s.time_zone,
        "enabled": s.enabled,
    })
}
