//! The job that has the site's agent write a backup: the repository's password (made and
//! sealed on the site's first backup), the site's append-only credential, `backup.create`,
//! and what it answered recorded on the backup and its operation. A transient failure (the
//! server unreachable or busy) is retried; the agent converges on a repeated backup id.

use super::Backups;
use super::alerts::AlertJob;
use crate::model::{Backup, BackupStatus, Contents};
use crate::repository::Access;
use chom_agent_protocol::backup::{BackupCreate, BackupCreated, Tag};
use chom_agent_protocol::{Answer as _, Command, Progress};
use chom_infrastructure::{FleetError, GatewayError};
use chom_kernel::{BackupId, SiteId, StoreError, TenantId, VpsId};
use chom_site_hosting::model::{Operation, StepProgress};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the backup job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupJob {
    /// Tenant (every read is scoped by it).
    pub tenant_id: TenantId,
    /// The backup.
    pub backup_id: BackupId,
}

pub use chom_site_hosting::service::JobOutcome;

const STEP: &str = "backup.create";

/// How often the progress an agent tells is saved on its operation, at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The failure of a backup whose site was deleted meanwhile.
const SITE_GONE: &str = "SITE_NOT_FOUND";

pub(super) fn transient(e: &FleetError) -> bool {
    matches!(
        e,
        FleetError::Gateway(GatewayError::Unreachable(_)) | FleetError::Busy(_)
    )
}

/// The associated data a repository password is sealed with: it opens only for this site.
fn password_context(site: SiteId) -> String {
    format!("backup_repositories.password:{site}")
}

impl Backups {
    /// The plain password of `site`'s repository, made (random, sealed, stored) on first use.
    pub(super) async fn repository_password(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<String, JobOutcome> {
        let fresh =
            chom_kernel::crypto::random_token(32).map_err(|e| JobOutcome::Retry(e.to_string()))?;
        let context = password_context(site);
        let sealed = self
            .work()?
            .sealer
            .seal_for(&context, fresh.as_bytes())
            .map_err(|e| JobOutcome::Retry(e.to_string()))?;
        let stored = self
            .work()?
            .backups
            .repository_password(tenant, site, &sealed)
            .await?;
        let plain = self
            .work()?
            .sealer
            .open_for(&context, &stored)
            .map_err(|e| JobOutcome::Permanent(format!("repository password: {e}")))?;
        String::from_utf8(plain).map_err(|e| JobOutcome::Permanent(e.to_string()))
    }

    /// Saves the backup and its operation (each when given) in one unit; an operation that
    /// ended elsewhere (the reaper) is left as it is.
    pub(super) async fn record(
        &self,
        backup: Option<&Backup>,
        op: Option<&Operation>,
    ) -> Result<(), StoreError> {
        self.record_raising(backup, op, None).await
    }

    /// [`Backups::record`], raising `alert` in the same unit.
    pub(super) async fn record_raising(
        &self,
        backup: Option<&Backup>,
        op: Option<&Operation>,
        alert: Option<&AlertJob>,
    ) -> Result<(), StoreError> {
        let mut uow = self.ports.store.begin().await?;
        if let Some(backup) = backup {
            self.work()?
                .backups
                .save_backup(uow.as_mut(), backup)
                .await?;
        }
        if let Some(op) = op {
            match self.work()?.sites.save_operation(uow.as_mut(), op).await {
                // Ended elsewhere (the reaper): the backup's own state still counts.
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(alert) = alert {
            self.raise(uow.as_mut(), alert).await?;
        }
        uow.commit().await
    }

    /// Runs `command` on server `vps`, saving how far it got on `op`'s running step `step` as
    /// the agent tells it: each new phase at once, the counts of a phase at most every
    /// [`PROGRESS_EVERY`] (the agent tells them every second while they move); the last told
    /// is on `op` when this returns. A failed save only costs the progress shown.
    pub(super) async fn run_telling(
        &self,
        vps: VpsId,
        command: Command,
        op: Option<&mut Operation>,
        step: &str,
    ) -> Result<serde_json::Value, FleetError> {
        use futures::StreamExt as _;
        let fleet = &self.work().map_err(FleetError::Store)?.fleet;
        let Some(op) = op else {
            return fleet.run(vps, command).await;
        };
        let (told, mut lines) = futures::channel::mpsc::unbounded::<Progress>();
        let call = async move {
            let tell = move |p: Progress| {
                let _ = told.unbounded_send(p);
            };
            fleet.run_telling(vps, command, &tell).await
            // `tell` goes with the call: the lines end.
        };
        let save = async {
            let mut saved: Option<std::time::Instant> = None;
            let mut phase = String::new();
            while let Some(p) = lines.next().await {
                let new_phase = p.phase != phase;
                phase.clone_from(&p.phase);
                let progress = StepProgress {
                    phase: p.phase,
                    files: p.files,
                    bytes: p.bytes,
                    files_expected: p.files_expected,
                };
                // Every line is on `op`; what was told after the last save goes with the
                // step's end.
                let changed = op.progress(step, progress, OffsetDateTime::now_utc());
                let due = new_phase || saved.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
                if changed && due {
                    saved = Some(std::time::Instant::now());
                    if let Err(e) = self.record(None, Some(op)).await {
                        tracing::debug!(error = %e, "the progress of {step} was not saved");
                    }
                }
            }
        };
        let (answer, ()) = futures::join!(call, save);
        answer
    }

    /// Ends the backup as failed with `why`, and alerts its organization (unless the site is
    /// gone: nobody is left to restore it).
    async fn fail(
        &self,
        mut backup: Backup,
        mut op: Option<Operation>,
        why: &str,
    ) -> Result<(), JobOutcome> {
        let now = OffsetDateTime::now_utc();
        backup.status = BackupStatus::Failed;
        backup.error = Some(why.to_owned());
        backup.finished_at = Some(now);
        if let Some(op) = op.as_mut() {
            op.fail(STEP, why, now);
        }
        let alert = (!why.starts_with(SITE_GONE)).then(|| AlertJob::failed(&backup));
        self.record_raising(Some(&backup), op.as_ref(), alert.as_ref())
            .await?;
        tracing::warn!(backup = %backup.id, site = %backup.site_id, why, "backup failed");
        Ok(())
    }

    /// Carries a backup out (the job handler). A backup the job gives up on (a permanent
    /// error, or a retryable one at its last attempt) is recorded failed and alerted, never
    /// left pending or running.
    ///
    /// # Errors
    /// `Retry` (transient, before the last attempt), `Permanent` (no such backup, or given up).
    #[tracing::instrument(name = "backups.run", skip_all, fields(tenant = %job.tenant_id, backup = %job.backup_id))]
    pub async fn run_backup(&self, job: &BackupJob, last_attempt: bool) -> Result<(), JobOutcome> {
        let outcome = self.attempt_backup(job, last_attempt).await;
        let why = match &outcome {
            Err(JobOutcome::Permanent(why)) => why.clone(),
            Err(JobOutcome::Retry(why)) if last_attempt => why.clone(),
            _ => return outcome,
        };
        if let Ok(Some(backup)) = self
            .work()?
            .backups
            .get_backup(job.tenant_id, job.backup_id)
            .await
            && matches!(backup.status, BackupStatus::Pending | BackupStatus::Running)
        {
            let op = match backup.operation_id {
                Some(id) => self
                    .work()?
                    .sites
                    .get_operation(job.tenant_id, id)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            self.fail(backup, op, &format!("INTERNAL: {why}")).await?;
        }
        outcome
    }

    async fn attempt_backup(&self, job: &BackupJob, last_attempt: bool) -> Result<(), JobOutcome> {
        let Some(mut backup) = self
            .work()?
            .backups
            .get_backup(job.tenant_id, job.backup_id)
            .await?
        else {
            return Err(JobOutcome::Permanent(format!(
                "no backup {}",
                job.backup_id
            )));
        };
        if !matches!(backup.status, BackupStatus::Pending | BackupStatus::Running) {
            return Ok(());
        }
        let mut op = match backup.operation_id {
            Some(id) => self.work()?.sites.get_operation(job.tenant_id, id).await?,
            None => None,
        };
        let site = match self.live_site(job.tenant_id, backup.site_id).await {
            Ok(site) => site,
            Err(_) => {
                return self
                    .fail(backup, op, &format!("{SITE_GONE}: the site is gone"))
                    .await;
            }
        };
        let now = OffsetDateTime::now_utc();
        backup.status = BackupStatus::Running;
        if let Some(op) = op.as_mut() {
            op.start(STEP, now);
        }
        self.record(Some(&backup), op.as_ref()).await?;

        let repositories = &self.work()?.repositories;
        if repositories.public_url().is_empty() {
            return self
                .fail(
                    backup,
                    op,
                    "REPOSITORY_NOT_CONFIGURED: set backup.public_url (or a fixed backup.listen port) so servers can reach the repositories",
                )
                .await;
        }
        let password = self.repository_password(job.tenant_id, site.id).await?;
        let command = Command::BackupCreate(BackupCreate {
            domain: site.domain.clone(),
            backup_id: Tag::parse(&backup.tag()).map_err(JobOutcome::Permanent)?,
            kind: backup.kind,
            exclude: Vec::new(),
            repository: repositories.access(site.id, Access::AppendOnly, password),
        });
        let answer = match self
            .run_telling(site.vps_id, command, op.as_mut(), STEP)
            .await
        {
            Ok(answer) => answer,
            Err(e) if transient(&e) && !last_attempt => {
                if let Some(op) = op.as_mut() {
                    op.retrying(STEP, &e.to_string(), OffsetDateTime::now_utc());
                    self.record(Some(&backup), Some(op)).await?;
                }
                return Err(JobOutcome::Retry(e.to_string()));
            }
            Err(e) => {
                let why = chom_site_hosting::service::public_reason(&e);
                return self.fail(backup, op, &why).await;
            }
        };
        let created = match BackupCreated::read(&answer) {
            Ok(c) => c,
            Err(e) => return self.fail(backup, op, &format!("SERVER_ERROR: {e}")).await,
        };
        let now = OffsetDateTime::now_utc();
        let days = self.policy(job.tenant_id).await?.days;
        backup.status = BackupStatus::Completed;
        backup.error = None;
        backup.finished_at = Some(now);
        backup.expires_at = Some(now + time::Duration::days(days));
        backup.contents = Some(Contents {
            parts: created.parts,
            manifest_sha256: created.manifest_sha256,
            file_count: i64::try_from(created.file_count).unwrap_or(i64::MAX),
            total_bytes: i64::try_from(created.total_bytes).unwrap_or(i64::MAX),
            added_bytes: i64::try_from(created.added_bytes).unwrap_or(i64::MAX),
            tables: created.tables,
        });
        if let Some(op) = op.as_mut() {
            op.finish(STEP, now);
        }
        self.record(Some(&backup), op.as_ref()).await?;
        tracing::info!(site = %site.id, added = created.added_bytes, "backup completed");
        Ok(())
    }
}
