//! What the backup area reads and answers.

use chom_backup::{Backup, BackupSchedule, ScheduleInput};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A site's backup schedule, as sent. Every field is read leniently so that every invalid one
/// is reported at once (422 `VALIDATION_FAILED` with `errors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"frequency": "weekly", "hour": 2, "weekday": "saturday", "time_zone": "Europe/Paris", "enabled": true}))]
pub struct BackupScheduleRequest {
    /// `daily` or `weekly`.
    #[schema(required = true, nullable = false, example = "weekly")]
    pub frequency: Option<String>,
    /// Hour of the day in `time_zone`, 0 to 23.
    #[schema(
        required = true,
        nullable = false,
        minimum = 0,
        maximum = 23,
        example = 2
    )]
    pub hour: Option<i64>,
    /// `monday` to `sunday`: required for a weekly schedule, refused for a daily one.
    #[schema(nullable = false, example = "saturday")]
    pub weekday: Option<String>,
    /// An IANA time zone name (`Europe/Paris`) or `UTC` (the default).
    #[schema(nullable = false, example = "Europe/Paris")]
    pub time_zone: Option<String>,
    /// Whether backups run on this schedule.
    #[schema(required = true, nullable = false, example = true)]
    pub enabled: Option<bool>,
}

impl From<BackupScheduleRequest> for ScheduleInput {
    fn from(r: BackupScheduleRequest) -> Self {
        Self {
            frequency: r.frequency,
            hour: r.hour,
            weekday: r.weekday,
            time_zone: r.time_zone,
            enabled: r.enabled,
        }
    }
}

/// A site's backup schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupScheduleView {
    /// The site.
    pub site_id: String,
    /// `daily` or `weekly`.
    pub frequency: String,
    /// Hour of the day in `time_zone`, 0 to 23.
    pub hour: u8,
    /// The day of a weekly schedule; null for a daily one.
    pub weekday: Option<String>,
    /// IANA time zone name, or `UTC`.
    pub time_zone: String,
    /// Whether backups run on this schedule.
    pub enabled: bool,
    /// When it was last saved; null while the site has the default (daily at 03:00 UTC,
    /// disabled).
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl From<&BackupSchedule> for BackupScheduleView {
    fn from(s: &BackupSchedule) -> Self {
        Self {
            site_id: s.site_id.to_string(),
            frequency: s.frequency.as_str().to_owned(),
            hour: s.hour,
            weekday: s.weekday.map(|d| d.as_str().to_owned()),
            time_zone: s.time_zone.clone(),
            enabled: s.enabled,
            updated_at: s.updated_at,
        }
    }
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupScheduleResponse {
    /// Payload.
    pub data: BackupScheduleView,
}

/// A backup to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "full"}))]
pub struct CreateBackupRequest {
    /// `full` (files and database), `files` or `database`.
    #[schema(required = true, nullable = false, example = "full")]
    pub kind: Option<String>,
}

/// A snapshot of a backup in the site's restic repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupPartView {
    /// `files` or `database`.
    pub part: String,
    /// restic's snapshot id (open it with `restic` and the repository's password).
    pub snapshot: String,
}

/// The last verified restore of a backup.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupVerificationView {
    /// `passed` or `failed`.
    pub status: String,
    /// When it ran.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    /// What failed, or what was checked.
    pub detail: String,
}

/// A backup.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    /// Id.
    pub id: String,
    /// The site.
    pub site_id: String,
    /// `full`, `files` or `database`.
    pub kind: String,
    /// `pending`, `running`, `completed`, `failed` or `expired`.
    pub status: String,
    /// `manual` or `scheduled`.
    pub trigger: String,
    /// The operation carrying it out.
    pub operation_id: Option<String>,
    /// Its snapshots (once completed).
    pub parts: Vec<BackupPartView>,
    /// Files in the site's tree (once completed).
    pub file_count: Option<i64>,
    /// Bytes of those files.
    pub total_bytes: Option<i64>,
    /// Bytes the backup added to the repository (after deduplication and compression): what
    /// counts against the plan's storage.
    pub added_bytes: Option<i64>,
    /// Rows of each table of the site's database, as dumped.
    pub tables: Option<std::collections::BTreeMap<String, u64>>,
    /// SHA-256 of the manifest (every file's SHA-256 and each table's row count).
    pub manifest_sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When retention removes it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The last verified restore.
    pub verification: Option<BackupVerificationView>,
    /// Asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Completed or failed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<&Backup> for BackupView {
    fn from(b: &Backup) -> Self {
        let c = b.contents.as_ref();
        Self {
            id: b.id.to_string(),
            site_id: b.site_id.to_string(),
            kind: b.kind.as_str().to_owned(),
            status: b.status.as_str().to_owned(),
            trigger: b.trigger.as_str().to_owned(),
            operation_id: b.operation_id.map(|o| o.to_string()),
            parts: c
                .map(|c| {
                    c.parts
                        .iter()
                        .map(|p| BackupPartView {
                            part: p.part.clone(),
                            snapshot: p.snapshot.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            file_count: c.map(|c| c.file_count),
            total_bytes: c.map(|c| c.total_bytes),
            added_bytes: c.map(|c| c.added_bytes),
            tables: c.map(|c| c.tables.clone()),
            manifest_sha256: c.map(|c| c.manifest_sha256.clone()),
            error: b.error.clone(),
            expires_at: b.expires_at,
            verification: b.verification.as_ref().map(|v| BackupVerificationView {
                status: v.status.as_str().to_owned(),
                verified_at: v.at,
                detail: v.detail.clone(),
            }),
            created_at: b.created_at,
            finished_at: b.finished_at,
        }
    }
}

/// A backup's verification: `passed`, `failed`, or `not_verified` yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupVerificationState {
    /// The backup.
    pub backup_id: String,
    /// `passed`, `failed` or `not_verified`.
    pub status: String,
    /// When the last verification ran.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// What failed, or what was checked.
    pub detail: Option<String>,
}

impl From<&Backup> for BackupVerificationState {
    fn from(b: &Backup) -> Self {
        let v = b.verification.as_ref();
        Self {
            backup_id: b.id.to_string(),
            status: v.map_or("not_verified", |v| v.status.as_str()).to_owned(),
            verified_at: v.map(|v| v.at),
            detail: v.map(|v| v.detail.clone()),
        }
    }
}

/// A backup's verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupVerificationResponse {
    /// Payload.
    pub data: BackupVerificationState,
}

/// One backup.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupResponse {
    /// Payload.
    pub data: BackupView,
}

/// A page of backups.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupList {
    /// The backups.
    pub data: Vec<BackupView>,
    /// Paging.
    pub meta: crate::routes::paging::PageMeta,
}

/// A backup asked for, and the operation carrying it out.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupAndOperation {
    /// The backup (`pending`).
    pub backup: BackupView,
    /// Its operation.
    pub operation: crate::routes::sites::OperationView,
}

/// 202 of a backup.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupAccepted {
    /// Payload.
    pub data: BackupAndOperation,
}

impl BackupAccepted {
    /// The answer for `backup` and `op`.
    #[must_use]
    pub fn new(backup: &Backup, op: &chom_site_hosting::Operation) -> Self {
        Self {
            data: BackupAndOperation {
                backup: BackupView::from(backup),
                operation: crate::routes::sites::OperationView::from(op),
            },
        }
    }
}

/// A site's backup repository, as the stock `restic` opens it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositoryView {
    /// `restic -r <location>` (a REST location with the site's append-only credential).
    #[schema(
        example = "rest:https://0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e:credential@backups.example.com/0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e/"
    )]
    pub location: String,
    /// The repository's password (`RESTIC_PASSWORD`).
    pub password: String,
}

/// The repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositoryResponse {
    /// Payload.
    pub data: RepositoryView,
}

/// A restore to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"dry_run": true}))]
pub struct RestoreRequest {
    /// Only say what would change.
    #[serde(default)]
    #[schema(required = true, default = false)]
    pub dry_run: bool,
    /// Restore into this other site of the tenant (default: the backup's own site).
    #[schema(nullable = false)]
    pub site_id: Option<String>,
}

/// What a restore changes in the site's tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeChangesView {
    /// Files the backup has and the site does not.
    pub added: u64,
    /// Files both have, with other content.
    pub changed: u64,
    /// Files the site has and the backup does not (removed by the restore).
    pub removed: u64,
    /// Up to 100 of them: `add <path>`, `change <path>`, `remove <path>`.
    pub sample: Vec<String>,
}

/// What a restore would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestorePreview {
    /// Always true here.
    pub dry_run: bool,
    /// The files (when the backup holds them).
    pub files: Option<TreeChangesView>,
    /// Rows of each table the database would have.
    pub tables: std::collections::BTreeMap<String, u64>,
}

impl From<chom_agent_protocol::backup::BackupRestored> for RestorePreview {
    fn from(r: chom_agent_protocol::backup::BackupRestored) -> Self {
        Self {
            dry_run: r.dry_run,
            files: r.files.map(|f| TreeChangesView {
                added: f.added,
                changed: f.changed,
                removed: f.removed,
                sample: f.sample,
            }),
            tables: r.tables,
        }
    }
}

/// A dry run's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestorePreviewResponse {
    /// Payload.
    pub data: RestorePreview,
}
