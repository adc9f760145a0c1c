//! What the backup context needs from storage. Reads of tenant data take the tenant and never
//! return another tenant's row; writes take the unit of work they belong to.

use crate::model::{Backup, BackupFilter, BackupSchedule};
use async_trait::async_trait;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{BackupId, SiteId, StoreError, TenantId, VpsId};

/// An enabled schedule with what the scheduling and watch jobs need of its site's backups.
#[derive(Debug, Clone)]
pub struct ScheduledSite {
    /// The site's tenant.
    pub tenant_id: TenantId,
    /// The schedule.
    pub schedule: BackupSchedule,
    /// When the site's newest scheduled backup (whatever became of it) was asked for.
    pub last_scheduled: Option<time::OffsetDateTime>,
    /// When the site's newest completed backup (scheduled or not) was asked for.
    pub last_completed: Option<time::OffsetDateTime>,
}

/// Site backup schedules.
#[async_trait]
pub trait ScheduleRepository: Send + Sync {
    /// The tenant's live (not deleted) site `site` exists. Read inside `uow` so a schedule is
    /// only saved for a site the same transaction saw.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn site_exists(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<bool, StoreError>;

    /// The saved schedule of the tenant's site; `None` when it never saved one (or the site is
    /// another tenant's).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_schedule(
        &self,
        tenant: TenantId,
        site: SiteId,
    ) -> Result<Option<BackupSchedule>, StoreError>;

    /// Every enabled schedule of a live site (every tenant: the scheduling and watch jobs),
    /// with when the site's latest scheduled and latest completed backups were asked for.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn enabled_schedules(&self) -> Result<Vec<ScheduledSite>, StoreError>;

    /// Inserts or replaces the schedule of the tenant's site.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn put_schedule(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        schedule: &BackupSchedule,
    ) -> Result<(), StoreError>;
}

/// Backups and each site's repository password.
#[async_trait]
pub trait BackupRepository: Send + Sync {
    /// Stores a new backup.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn insert_backup(
        &self,
        uow: &mut dyn UnitOfWork,
        backup: &Backup,
    ) -> Result<(), StoreError>;

    /// Saves a backup's state, contents, error, expiry and verification.
    ///
    /// # Errors
    /// `NotFound` (no such backup in its tenant), `Unavailable`, `Unexpected`.
    async fn save_backup(
        &self,
        uow: &mut dyn UnitOfWork,
        backup: &Backup,
    ) -> Result<(), StoreError>;

    /// A backup of the tenant; `None` for another tenant's or an unknown id.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get_backup(
        &self,
        tenant: TenantId,
        id: BackupId,
    ) -> Result<Option<Backup>, StoreError>;

    /// The tenant's backups, newest first, after the cursor `after` (an id of the previous
    /// page), narrowed by `filter`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list_backups(
        &self,
        tenant: TenantId,
        filter: &BackupFilter,
        after: Option<BackupId>,
        limit: i64,
    ) -> Result<Vec<Backup>, StoreError>;

    /// Pending or running backups per server (every tenant: the scheduling job's concurrency
    /// limit).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn active_backups_by_server(&self) -> Result<Vec<(VpsId, i64)>, StoreError>;

    /// Every completed backup (every tenant: the pruning job).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn completed_backups(&self) -> Result<Vec<Backup>, StoreError>;

    /// Expired and failed backups whose snapshots were not forgotten yet (every tenant).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn unforgotten_backups(&self) -> Result<Vec<Backup>, StoreError>;

    /// Records that the snapshots of `backup` (of `tenant`) left the repository at `at`.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn mark_forgotten(
        &self,
        tenant: TenantId,
        backup: BackupId,
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Completed backups never verified, or last verified before `before`, newest first (every
    /// tenant: the verification job's sample).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn unverified_backups(
        &self,
        before: time::OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Backup>, StoreError>;

    /// Bytes the tenant's kept (completed, not expired) backups added to their repositories.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn storage_used(&self, tenant: TenantId) -> Result<i64, StoreError>;

    /// The sealed password of `site`'s repository, stored on first use: the value already
    /// stored wins over `sealed` (two first backups racing agree on one password).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn repository_password(
        &self,
        tenant: TenantId,
        site: SiteId,
        sealed: &str,
    ) -> Result<String, StoreError>;
}

/// Bytes as they come (a download): each chunk, or why the stream broke.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Vec<u8>, String>> + Send>>;

/// The outcome of a verified restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every file's SHA-256 and every table's row count matched, the data read back clean:
    /// what was checked.
    Passed(String),
    /// What did not.
    Failed(String),
}

/// What the control plane does to a repository with its full credential.
#[async_trait]
pub trait RepositoryMaintenance: Send + Sync {
    /// Forgets every snapshot of the backups `backup_ids` (their `chom-backup=<id>` tag), then
    /// prunes the data no snapshot needs any more.
    ///
    /// # Errors
    /// Why restic failed (the repository unreachable, locked, damaged).
    async fn forget(
        &self,
        access: &chom_agent_protocol::backup::RepositoryAccess,
        backup_ids: &[String],
    ) -> Result<(), String>;

    /// The snapshot `snapshot` as a tar archive, streamed as restic decrypts it.
    ///
    /// # Errors
    /// restic could not start.
    async fn dump(
        &self,
        access: &chom_agent_protocol::backup::RepositoryAccess,
        snapshot: &str,
    ) -> Result<ByteStream, String>;

    /// Restores backup `backup_id` off the server (a scratch directory on this host), checks
    /// every file's SHA-256 and the dump's SHA-256 and rows per table against its manifest
    /// (whose own SHA-256 must be `manifest_sha256`), then reads the repository's data back.
    ///
    /// # Errors
    /// The repository could not be opened (nothing was verified; try later).
    async fn verify(
        &self,
        access: &chom_agent_protocol::backup::RepositoryAccess,
        backup_id: &str,
        manifest_sha256: &str,
    ) -> Result<Verdict, String>;
}
