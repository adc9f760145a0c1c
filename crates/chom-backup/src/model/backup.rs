//! A backup: one run of `backup.create` on a site, its state and what it holds.

use chom_agent_protocol::backup::{BackupKind, Part};
use chom_kernel::{BackupId, OperationId, SiteId, TenantId};
use std::collections::BTreeMap;
use time::OffsetDateTime;

chom_kernel::str_enum! {
    /// Where a backup is in its life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BackupStatus: "backup status" {
        /// Queued.
        Pending = "pending",
        /// The agent is writing it.
        Running = "running",
        /// Written and committed by its manifest.
        Completed = "completed",
        /// Stopped by an error (kept with the reason).
        Failed = "failed",
        /// Past its retention, or deleted: its snapshots are forgotten.
        Expired = "expired",
    }
}

chom_kernel::str_enum! {
    /// What started a backup.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Trigger: "backup trigger" {
        /// A member asked for it.
        Manual = "manual",
        /// The site's schedule.
        Scheduled = "scheduled",
    }
}

chom_kernel::str_enum! {
    /// The outcome of a verified restore.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum VerificationStatus: "verification status" {
        /// Every file's SHA-256 and every table's row count matched; the data read back clean.
        Passed = "passed",
        /// Something did not.
        Failed = "failed",
    }
}

/// The last verified restore of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Its outcome.
    pub status: VerificationStatus,
    /// When it ran.
    pub at: OffsetDateTime,
    /// What failed (or what was checked).
    pub detail: String,
}

/// What the agent reported of a completed backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// The snapshots (`files`, `database`).
    pub parts: Vec<Part>,
    /// SHA-256 of the manifest (what verification trusts).
    pub manifest_sha256: String,
    /// Files in the tree.
    pub file_count: i64,
    /// Bytes of the files.
    pub total_bytes: i64,
    /// Bytes the backup added to the repository (what counts against the plan's storage).
    pub added_bytes: i64,
    /// Rows per table.
    pub tables: BTreeMap<String, u64>,
}

/// A backup of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Id (also its snapshots' tag).
    pub id: BackupId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The site.
    pub site_id: SiteId,
    /// What it holds.
    pub kind: BackupKind,
    /// State.
    pub status: BackupStatus,
    /// What started it.
    pub trigger: Trigger,
    /// The operation that carries it out (progress).
    pub operation_id: Option<OperationId>,
    /// Filled once completed.
    pub contents: Option<Contents>,
    /// Why it failed.
    pub error: Option<String>,
    /// When retention removes it.
    pub expires_at: Option<OffsetDateTime>,
    /// The last verified restore.
    pub verification: Option<Verification>,
    /// Creation.
    pub created_at: OffsetDateTime,
    /// Completion (or failure).
    pub finished_at: Option<OffsetDateTime>,
}

impl Backup {
    /// A pending backup of `site`.
    #[must_use]
    pub fn new(tenant_id: TenantId, site_id: SiteId, kind: BackupKind, trigger: Trigger) -> Self {
        Self {
            id: BackupId::new(),
            tenant_id,
            site_id,
            kind,
            status: BackupStatus::Pending,
            trigger,
            operation_id: None,
            contents: None,
            error: None,
            expires_at: None,
            verification: None,
            created_at: OffsetDateTime::now_utc(),
            finished_at: None,
        }
    }

    /// The snapshot tag the agent uses: the id, hyphenated lowercase.
    #[must_use]
    pub fn tag(&self) -> String {
        self.id.to_string()
    }
}

/// What a backup listing is narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupFilter {
    /// One site.
    pub site_id: Option<SiteId>,
    /// One kind.
    pub kind: Option<BackupKind>,
    /// One state.
    pub status: Option<BackupStatus>,
}
