//! Restoring a backup into its site (or another of the tenant's sites): a dry run answers at
//! once what would change; a restore is an operation whose job has the target's agent run
//! `backup.restore` (staged, checked against the manifest, then swapped in; see the agent).

use super::run::{JobOutcome, transient};
use super::{BackupError, Backups};
use crate::model::{Backup, BackupStatus};
use crate::repository::Access;
use chom_agent_protocol::backup::{BackupRestore, BackupRestored, Tag};
use chom_agent_protocol::{Answer as _, Command};
use chom_kernel::audit::AuditEvent;
use chom_kernel::{BackupId, OperationId, SiteId, TenantContext, TenantId};
use chom_site_hosting::model::{Operation, Site, SiteStatus};
use chom_team::Action;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The job that restores a backup.
pub const RUN_RESTORE: &str = "backup::restore";
const STEP: &str = "backup.restore";

/// What the restore job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreJob {
    /// Tenant (every read is scoped by it).
    pub tenant_id: TenantId,
    /// The backup restored.
    pub backup_id: BackupId,
    /// The site restored into.
    pub site_id: SiteId,
    /// The operation (its id names the restore on the server: a retry resumes it).
    pub operation_id: OperationId,
}

impl Backups {
    /// The completed backup and the live target site (the backup's own when `target` is
    /// `None`), both the caller's tenant's.
    async fn restore_pair(
        &self,
        ctx: &TenantContext,
        id: BackupId,
        target: Option<SiteId>,
    ) -> Result<(Backup, Site), BackupError> {
        super::backups::require(ctx, Action::ManageBackups)?;
        let tenant = ctx.tenant_id();
        let backup = self
            .work()?
            .backups
            .get_backup(tenant, id)
            .await?
            .ok_or(BackupError::NotFound)?;
        let site = match target {
            // A site named in the body that is not the tenant's is a bad field, not a 404.
            Some(site) => self.live_site(tenant, site).await.map_err(|_| {
                BackupError::Invalid(vec![(
                    "site_id",
                    "INVALID_VALUE",
                    "no such site in your tenant".into(),
                )])
            })?,
            None => self
                .live_site(tenant, backup.site_id)
                .await
                .map_err(|_| BackupError::SiteNotReady("deleted"))?,
        };
        if backup.status != BackupStatus::Completed {
            return Err(BackupError::NotCompleted(backup.status.as_str()));
        }
        if !matches!(site.status, SiteStatus::Active | SiteStatus::Disabled) {
            return Err(BackupError::SiteNotReady(site.status.as_str()));
        }
        Ok((backup, site))
    }

    async fn restore_command(
        &self,
        backup: &Backup,
        site: &Site,
        restore_id: &str,
        dry_run: bool,
    ) -> Result<Command, JobOutcome> {
        let password = self
            .repository_password(backup.tenant_id, backup.site_id)
            .await?;
        let repositories = &self.work()?.repositories;
        Ok(Command::BackupRestore(BackupRestore {
            domain: site.domain.clone(),
            backup_id: Tag::parse(&backup.tag()).map_err(JobOutcome::Permanent)?,
            restore_id: Tag::parse(restore_id).map_err(JobOutcome::Permanent)?,
            kind: backup.kind,
            dry_run,
            // The backup's own site's repository, whatever the target.
            repository: repositories.access(backup.site_id, Access::AppendOnly, password),
        }))
    }

    /// What restoring `id` into its site (or `target`) would change: the files added,
    /// changed and removed, and the tables' rows; nothing is changed. Asks the target's agent
    /// now.
    ///
    /// # Errors
    /// `Forbidden` (below admin), `NotFound`, `Invalid` (`site_id`), `NotCompleted`,
    /// `SiteNotReady`, `Server` (the server could not answer), `Store`.
    pub async fn restore_preview(
        &self,
        ctx: &TenantContext,
        id: BackupId,
        target: Option<SiteId>,
    ) -> Result<BackupRestored, BackupError> {
        let (backup, site) = self.restore_pair(ctx, id, target).await?;
        let restore_id = OperationId::new().to_string();
        let command = self
            .restore_command(&backup, &site, &restore_id, true)
            .await
            .map_err(|e| BackupError::Server(e.to_string()))?;
        let answer = self
            .work()?
            .fleet
            .run(site.vps_id, command)
            .await
            .map_err(|e| BackupError::Server(chom_site_hosting::service::public_reason(&e)))?;
        BackupRestored::read(&answer).map_err(|e| BackupError::Server(format!("SERVER_ERROR: {e}")))
    }

    /// Restores `id` into its site (or `target`; admins and above): an operation (kind
    /// `restore`) and its job, committed together, audited. The site keeps its previous state
    /// until the restored one is checked and swapped in.
    ///
    /// # Errors
    /// As [`Backups::restore_preview`], and `Busy`.
    pub async fn restore_backup(
        &self,
        ctx: &TenantContext,
        id: BackupId,
        target: Option<SiteId>,
        request_id: Option<String>,
    ) -> Result<Operation, BackupError> {
        let (backup, site) = self.restore_pair(ctx, id, target).await?;
        let tenant = ctx.tenant_id();
        let work = self.work()?;
        let mut uow = self.ports.store.begin().await?;
        if work
            .sites
            .lock_site(uow.as_mut(), tenant, site.id)
            .await?
            .is_none()
        {
            return Err(BackupError::NotFound);
        }
        self.refuse_if_busy(uow.as_mut(), site.id).await?;
        let op = Operation::new(tenant, Some(site.id), "restore", &[STEP]);
        let job = RestoreJob {
            tenant_id: tenant,
            backup_id: backup.id,
            site_id: site.id,
            operation_id: op.id,
        };
        self.enqueue_operation(uow.as_mut(), &op, RUN_RESTORE, &job, request_id)
            .await?;
        let event = AuditEvent::by_member(ctx, "backup.restore", "backup", backup.id).with_summary(
            serde_json::json!({"site_id": site.id, "from_site_id": backup.site_id, "kind": backup.kind.as_str()}),
        );
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(op)
    }

    /// Carries a restore out (the job handler). The operation's id is the restore's id on the
    /// server, so a retry after a crash resumes it where it stopped.
    ///
    /// # Errors
    /// `Retry` (transient, before the last attempt), `Permanent` (no such operation).
    #[tracing::instrument(name = "backups.run_restore", skip_all, fields(tenant = %job.tenant_id, backup = %job.backup_id, site = %job.site_id))]
    pub async fn run_restore(
        &self,
        job: &RestoreJob,
        last_attempt: bool,
    ) -> Result<(), JobOutcome> {
        let work = self.work()?;
        let Some(mut op) = work
            .sites
            .get_operation(job.tenant_id, job.operation_id)
            .await?
        else {
            return Err(JobOutcome::Permanent(format!(
                "no operation {}",
                job.operation_id
            )));
        };
        if op.status.is_terminal() {
            return Ok(());
        }
        let backup = work
            .backups
            .get_backup(job.tenant_id, job.backup_id)
            .await?;
        let site = self.live_site(job.tenant_id, job.site_id).await.ok();
        let (Some(backup), Some(site)) = (backup, site) else {
            op.fail(
                STEP,
                "NOT_FOUND: the backup or the site is gone",
                OffsetDateTime::now_utc(),
            );
            self.record(None, Some(&op)).await?;
            return Ok(());
        };
        op.start(STEP, OffsetDateTime::now_utc());
        self.record(None, Some(&op)).await?;
        let command = self
            .restore_command(&backup, &site, &job.operation_id.to_string(), false)
            .await?;
        match self
            .run_telling(site.vps_id, command, Some(&mut op), STEP)
            .await
        {
            Ok(answer) => match BackupRestored::read(&answer) {
                Ok(_) => op.finish(STEP, OffsetDateTime::now_utc()),
                Err(e) => op.fail(
                    STEP,
                    &format!("SERVER_ERROR: {e}"),
                    OffsetDateTime::now_utc(),
                ),
            },
            Err(e) if transient(&e) && !last_attempt => {
                op.retrying(STEP, &e.to_string(), OffsetDateTime::now_utc());
                self.record(None, Some(&op)).await?;
                return Err(JobOutcome::Retry(e.to_string()));
            }
            Err(e) => {
                let why = chom_site_hosting::service::public_reason(&e);
                op.fail(STEP, &why, OffsetDateTime::now_utc());
                tracing::warn!(why, "restore failed");
            }
        }
        self.record(None, Some(&op)).await?;
        Ok(())
    }
}
