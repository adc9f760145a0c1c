//! Asking for a backup, listing, reading and deleting them. Every read is scoped by the
//! caller's tenant: another tenant's backup or site is `NotFound`, like an unknown id.

use super::run::BackupJob;
use super::{BackupError, Backups};
use crate::model::{Backup, BackupFilter, BackupStatus, Trigger};
use chom_agent_protocol::backup::BackupKind;
use chom_kernel::audit::{Actor, AuditEvent};
use chom_kernel::jobs::NewJob;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{BackupId, OrganizationId, SiteId, StoreError, TenantContext, TenantId};
use chom_site_hosting::model::{Operation, Site, SiteStatus};
use chom_team::Action;
use time::OffsetDateTime;

/// The job that has the agent write a backup.
pub const RUN_BACKUP: &str = "backup::run";

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

pub(super) fn require(ctx: &TenantContext, action: Action) -> Result<(), BackupError> {
    let role = ctx.role();
    chom_team::policy::require(role, action).map_err(|_| BackupError::Forbidden(role.as_str()))
}

impl Backups {
    /// The tenant's live site, or `NotFound`.
    pub(super) async fn live_site(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<Site, BackupError> {
        self.work()?
            .sites
            .get_site(tenant, site)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .ok_or(BackupError::NotFound)
    }

    /// The plan of `tenant` (`None`: it has none, or the tenant is gone).
    pub(super) async fn plan_of(
        &self,
        tenant: TenantId,
    ) -> Result<Option<chom_tenancy::Plan>, StoreError> {
        let work = self.work()?;
        let code = work
            .orgs
            .get_tenant(tenant)
            .await?
            .and_then(|t| t.plan_code);
        match code {
            Some(c) => work.plans.find(&c).await,
            None => Ok(None),
        }
    }

    /// Refuses a backup that would take the tenant past its plan's storage: the bytes its kept
    /// backups added, plus the site's measured size (what a first backup of it may add).
    pub(super) async fn check_storage(
        &self,
        tenant: TenantId,
        site: &Site,
    ) -> Result<(), BackupError> {
        let Some(limit_gb) = self.plan_of(tenant).await?.and_then(|p| p.max_storage_gb) else {
            return Ok(());
        };
        let limit_bytes = i64::from(limit_gb).saturating_mul(GIB);
        let used = self.work()?.backups.storage_used(tenant).await?;
        let used_bytes = used.saturating_add(site.storage_used_mb.saturating_mul(MIB));
        if used_bytes > limit_bytes {
            return Err(BackupError::StorageLimitExceeded {
                used_bytes,
                limit_bytes,
            });
        }
        Ok(())
    }

    /// Asks for a backup of one of the caller's tenant's sites (members and above): the backup,
    /// its operation (progress) and the job, committed together. Refused before anything starts
    /// when the site is not active or disabled, another operation runs on it, or the plan's
    /// storage is used up.
    ///
    /// # Errors
    /// `Forbidden` (checked first), `NotFound`, `SiteNotReady`, `Busy`,
    /// `StorageLimitExceeded`, `Store`.
    #[tracing::instrument(name = "backups.create", skip_all, fields(tenant = %ctx.tenant_id(), user = %ctx.user_id(), %site))]
    pub async fn create_backup(
        &self,
        ctx: &TenantContext,
        site: SiteId,
        kind: BackupKind,
        request_id: Option<String>,
    ) -> Result<(Backup, Operation), BackupError> {
        require(ctx, Action::CreateBackups)?;
        let origin = Some(ctx.organization_id());
        self.enqueue_backup(
            ctx.tenant_id(),
            site,
            kind,
            (
                Trigger::Manual,
                &ctx.actor(),
                origin,
                OffsetDateTime::now_utc(),
            ),
            request_id,
        )
        .await
    }

    /// Everything of [`Backups::create_backup`] after the role: for a member, or the system (a
    /// schedule), recorded in the audit log as that actor in `organization`'s chain.
    pub(super) async fn enqueue_backup(
        &self,
        tenant: TenantId,
        site: SiteId,
        kind: BackupKind,
        (trigger, actor, organization, at): (
            Trigger,
            &Actor,
            Option<OrganizationId>,
            OffsetDateTime,
        ),
        request_id: Option<String>,
    ) -> Result<(Backup, Operation), BackupError> {
        let work = self.work()?;
        let found = self.live_site(tenant, site).await?;
        self.check_storage(tenant, &found).await?;
        let mut uow = self.ports.store.begin().await?;
        let Some(locked) = work.sites.lock_site(uow.as_mut(), tenant, site).await? else {
            return Err(BackupError::NotFound);
        };
        if !matches!(locked.status, SiteStatus::Active | SiteStatus::Disabled) {
            return Err(BackupError::SiteNotReady(locked.status.as_str()));
        }
        self.refuse_if_busy(uow.as_mut(), site).await?;
        let mut backup = Backup::new(tenant, site, kind, trigger);
        backup.created_at = at;
        let op = Operation::new(tenant, Some(site), "backup", &["backup.create"]);
        backup.operation_id = Some(op.id);
        work.backups.insert_backup(uow.as_mut(), &backup).await?;
        let job = BackupJob {
            tenant_id: tenant,
            backup_id: backup.id,
        };
        self.enqueue_operation(uow.as_mut(), &op, RUN_BACKUP, &job, request_id)
            .await?;
        let event = AuditEvent::new(actor, "backup.create", "backup", backup.id)
            .for_tenant(tenant)
            .in_organization(organization)
            .with_summary(serde_json::json!({"site_id": site, "kind": kind.as_str(), "trigger": trigger.as_str()}));
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok((backup, op))
    }

    /// Refuses when another operation runs on `site` (read in `uow`, under the site's lock).
    pub(super) async fn refuse_if_busy(
        &self,
        uow: &mut dyn UnitOfWork,
        site: SiteId,
    ) -> Result<(), BackupError> {
        match self.work()?.sites.active_operation(uow, site).await? {
            Some(running) => Err(BackupError::Busy(running)),
            None => Ok(()),
        }
    }

    /// Records `op` in `uow` with the job (`kind`, `payload`; 5 attempts) that carries it out.
    pub(super) async fn enqueue_operation(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
        kind: &str,
        payload: &impl serde::Serialize,
        request_id: Option<String>,
    ) -> Result<(), BackupError> {
        let payload = serde_json::to_value(payload)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
        let job = uow
            .enqueue(
                NewJob::new(kind, payload)
                    .max_attempts(5)
                    .tenant(op.tenant_id)
                    .request_id(request_id),
            )
            .await?;
        self.work()?.sites.insert_operation(uow, op, job).await?;
        Ok(())
    }

    /// One of the caller's tenant's backups.
    ///
    /// # Errors
    /// `NotFound` (foreign or unknown), `Store`.
    pub async fn backup(&self, ctx: &TenantContext, id: BackupId) -> Result<Backup, BackupError> {
        require(ctx, Action::ViewOrganization)?;
        self.work()?
            .backups
            .get_backup(ctx.tenant_id(), id)
            .await?
            .ok_or(BackupError::NotFound)
    }

    /// A page of the caller's tenant's backups, newest first.
    ///
    /// # Errors
    /// `NotFound` for a `site_id` filter naming a foreign, deleted or unknown site; `Store`.
    pub async fn backups(
        &self,
        ctx: &TenantContext,
        filter: &BackupFilter,
        after: Option<BackupId>,
        limit: i64,
    ) -> Result<Vec<Backup>, BackupError> {
        require(ctx, Action::ViewOrganization)?;
        if let Some(site) = filter.site_id {
            self.live_site(ctx.tenant_id(), site).await?;
        }
        Ok(self
            .work()?
            .backups
            .list_backups(ctx.tenant_id(), filter, after, limit)
            .await?)
    }

    /// Deletes one of the caller's tenant's backups (admins and above): it is marked
    /// `expired` at once (no longer listed as restorable, no longer counted against the plan);
    /// its snapshots are forgotten by the pruning job, which alone holds the repository's
    /// full credential. A running backup cannot be deleted.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NotCompleted` (pending or running), `Store`.
    pub async fn delete_backup(
        &self,
        ctx: &TenantContext,
        id: BackupId,
    ) -> Result<Backup, BackupError> {
        require(ctx, Action::ManageBackups)?;
        let tenant = ctx.tenant_id();
        let mut backup = self
            .work()?
            .backups
            .get_backup(tenant, id)
            .await?
            .ok_or(BackupError::NotFound)?;
        if matches!(backup.status, BackupStatus::Pending | BackupStatus::Running) {
            return Err(BackupError::NotCompleted(backup.status.as_str()));
        }
        let before = backup.status;
        backup.status = BackupStatus::Expired;
        backup.expires_at = Some(OffsetDateTime::now_utc());
        let mut uow = self.ports.store.begin().await?;
        self.work()?
            .backups
            .save_backup(uow.as_mut(), &backup)
            .await?;
        let event = AuditEvent::by_member(ctx, "backup.delete", "backup", backup.id).with_summary(
            serde_json::json!({"site_id": backup.site_id, "status": before.as_str()}),
        );
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(backup)
    }
}

impl Backups {
    /// How to open one of the caller's tenant's sites' repository without CHOM: the restic
    /// location (with the site's append-only credential: it reads and adds, never deletes)
    /// and the repository's password (made now if the site was never backed up). Admins and
    /// above; audited.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `Store`.
    pub async fn repository_access(
        &self,
        ctx: &TenantContext,
        site: SiteId,
    ) -> Result<chom_agent_protocol::backup::RepositoryAccess, BackupError> {
        require(ctx, Action::ManageBackups)?;
        let tenant = ctx.tenant_id();
        self.live_site(tenant, site).await?;
        let password = self
            .repository_password(tenant, site)
            .await
            .map_err(|e| BackupError::Store(StoreError::Unexpected(anyhow::anyhow!("{e}"))))?;
        let work = self.work()?;
        let access =
            work.repositories
                .access(site, crate::repository::Access::AppendOnly, password);
        let mut uow = self.ports.store.begin().await?;
        let event = AuditEvent::by_member(ctx, "backup_repository.reveal", "site", site);
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(access)
    }
}

/// A backup's part as a tar archive, streamed.
pub struct Download {
    /// `<site id>-<backup id>-<part>.tar`.
    pub file_name: String,
    /// The archive.
    pub stream: crate::ports::ByteStream,
    /// Its length in bytes.
    pub length: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

impl Backups {
    /// One part (`files` or `database`) of one of the caller's tenant's completed backups, as
    /// a tar archive decrypted on the fly (admins and above; audited).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NotCompleted`, `Invalid` (`part`: the backup has none such),
    /// `Server` (restic could not start), `Store`.
    pub async fn download(
        &self,
        ctx: &TenantContext,
        id: BackupId,
        part: &str,
    ) -> Result<Download, BackupError> {
        require(ctx, Action::ManageBackups)?;
        let tenant = ctx.tenant_id();
        let work = self.work()?;
        let backup = work
            .backups
            .get_backup(tenant, id)
            .await?
            .ok_or(BackupError::NotFound)?;
        if backup.status != BackupStatus::Completed {
            return Err(BackupError::NotCompleted(backup.status.as_str()));
        }
        let Some(snapshot) = backup
            .contents
            .as_ref()
            .and_then(|c| c.parts.iter().find(|p| p.part == part))
            .map(|p| p.snapshot.clone())
        else {
            return Err(BackupError::Invalid(vec![(
                "part",
                "INVALID_VALUE",
                format!("this backup has no {part:?} part"),
            )]));
        };
        let password = self
            .repository_password(tenant, backup.site_id)
            .await
            .map_err(|e| BackupError::Server(e.to_string()))?;
        let access = work.repositories.access(
            backup.site_id,
            crate::repository::Access::AppendOnly,
            password,
        );
        // Read once for the archive's length and SHA-256 (sent before it), then again for the
        // answer, checked against them as it goes.
        let mut first = work
            .maintenance
            .dump(&access, &snapshot)
            .await
            .map_err(BackupError::Server)?;
        let (mut hash, mut length) = (chom_kernel::crypto::Sha256Stream::default(), 0u64);
        while let Some(chunk) = futures::StreamExt::next(&mut first).await {
            let chunk = chunk.map_err(BackupError::Server)?;
            length += chunk.len() as u64;
            hash.update(&chunk);
        }
        let sha256 = hash.finish();
        let stream = work
            .maintenance
            .dump(&access, &snapshot)
            .await
            .map_err(BackupError::Server)?;
        let stream = checked(stream, length, sha256);
        let mut uow = self.ports.store.begin().await?;
        let event = AuditEvent::by_member(ctx, "backup.download", "backup", backup.id)
            .with_summary(serde_json::json!({"part": part}));
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok(Download {
            file_name: format!("{}-{}-{part}.tar", backup.site_id, backup.id),
            stream,
            length,
            sha256,
        })
    }
}

/// `stream`, each chunk held back until the next arrives and the last one given only once
/// everything matched `length` and `sha256`: an archive that reads differently the second time
/// ends in an error (a broken transfer), never in a complete archive its headers do not
/// describe.
pub(crate) fn checked(
    stream: crate::ports::ByteStream,
    length: u64,
    sha256: [u8; 32],
) -> crate::ports::ByteStream {
    struct State {
        inner: crate::ports::ByteStream,
        held: Option<Vec<u8>>,
        hash: chom_kernel::crypto::Sha256Stream,
        seen: u64,
        ended: bool,
    }
    let start = State {
        inner: stream,
        held: None,
        hash: chom_kernel::crypto::Sha256Stream::default(),
        seen: 0,
        ended: false,
    };
    Box::pin(futures::stream::unfold(start, move |mut st| async move {
        if st.ended {
            return None;
        }
        loop {
            match futures::StreamExt::next(&mut st.inner).await {
                Some(Ok(chunk)) => {
                    st.seen += chunk.len() as u64;
                    st.hash.update(&chunk);
                    if st.seen > length {
                        st.ended = true;
                        return Some((Err("the archive grew between its two reads".into()), st));
                    }
                    if let Some(out) = st.held.replace(chunk) {
                        return Some((Ok(out), st));
                    }
                }
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.ended = true;
                    let digest = std::mem::take(&mut st.hash).finish();
                    if st.seen != length || digest != sha256 {
                        return Some((Err("the archive changed between its two reads".into()), st));
                    }
                    return st.held.take().map(|last| (Ok(last), st));
                }
            }
        }
    }))
}
