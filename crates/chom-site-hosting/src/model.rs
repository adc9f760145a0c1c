//! Sites, their status, and the operations that change them.

use chom_agent_protocol::{Domain, PhpVersion, SiteType};
use chom_kernel::{OperationId, SiteId, TenantId, VpsId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A hosted site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Id.
    pub id: SiteId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The server it lives on.
    pub vps_id: VpsId,
    /// Domain (lower case).
    pub domain: Domain,
    /// Application type.
    pub site_type: SiteType,
    /// PHP version of its pool.
    pub php_version: PhpVersion,
    /// Where it is in its life.
    pub status: SiteStatus,
    /// Why it failed (or was disabled by a suspension).
    pub status_reason: Option<String>,
    /// Disabled by a tenant suspension while active: re-enabled on reactivation.
    pub suspended_active: bool,
    /// A certificate was asked for at creation.
    pub ssl_requested: bool,
    /// Served over HTTPS.
    pub ssl_enabled: bool,
    /// Certificate expiry.
    pub ssl_expires_at: Option<OffsetDateTime>,
    /// Database name (once provisioned).
    pub db_name: Option<String>,
    /// Database user.
    pub db_user: Option<String>,
    /// Database password, sealed with the application key.
    pub db_password_sealed: Option<String>,
    /// Disk used, MB (last measured).
    pub storage_used_mb: i64,
    /// Creation.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Removal (the row stays for the record).
    pub deleted_at: Option<OffsetDateTime>,
}

chom_kernel::str_enum! {
    /// Where a site is in its life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum SiteStatus: "site status" {
        /// Being provisioned.
        Creating = "creating",
        /// Served.
        Active = "active",
        /// Not served (vhost off), files and database kept.
        Disabled = "disabled",
        /// Provisioning failed; the reason is kept; retry is possible.
        Failed = "failed",
        /// Being removed.
        Deleting = "deleting",
        /// A backup is being restored; the previous state is kept until success.
        Restoring = "restoring",
    }
}

impl SiteStatus {
    /// Whether a site may go from `self` to `next`.
    #[must_use]
    pub fn can_become(self, next: SiteStatus) -> bool {
        use SiteStatus::{Active, Creating, Deleting, Disabled, Failed, Restoring};
        matches!(
            (self, next),
            (Creating, Active | Failed | Deleting)
                | (Failed, Creating | Deleting)
                | (Active, Disabled | Deleting | Restoring)
                | (Disabled, Active | Deleting | Restoring)
                | (Restoring, Active | Disabled | Failed)
        )
    }
}

chom_kernel::str_enum! {
    /// An operation's state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OperationStatus: "operation status" {
        /// Queued.
        Pending = "pending",
        /// A worker is on it.
        Running = "running",
        /// Done.
        Succeeded = "succeeded",
        /// Stopped by an error.
        Failed = "failed",
    }
}

impl OperationStatus {
    /// Whether the operation is over.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// A step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started.
    Running,
    /// Finished.
    Done,
    /// Failed.
    Failed,
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Name (`site.create`, `ssl.issue`…).
    pub name: String,
    /// State.
    pub status: StepStatus,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed.
    pub error: Option<String>,
    /// How far it got, while it runs (and where it ended), when its server tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<StepProgress>,
}

/// How far a step got, as its server tells it (shown to people; nothing is decided on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProgress {
    /// What it is doing (`files`, `database`; for a restore `restoring_files`…).
    pub phase: String,
    /// Files dealt with so far in this phase.
    pub files: u64,
    /// Bytes read or written so far in this phase.
    pub bytes: u64,
    /// Files the phase should deal with in all, when known (an estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_expected: Option<u64>,
}

/// A long-running piece of work and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Id.
    pub id: OperationId,
    /// Owner.
    pub tenant_id: TenantId,
    /// The site it works on.
    pub site_id: Option<SiteId>,
    /// Kind (`provision`, `delete`, `enable`…).
    pub kind: String,
    /// State.
    pub status: OperationStatus,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The error that stopped it.
    pub error: Option<String>,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Operation {
    /// A pending operation of `tenant` on `site` with these steps.
    #[must_use]
    pub fn new(tenant_id: TenantId, site_id: Option<SiteId>, kind: &str, steps: &[&str]) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: OperationId::new(),
            tenant_id,
            site_id,
            kind: kind.to_owned(),
            status: OperationStatus::Pending,
            steps: steps
                .iter()
                .map(|s| Step {
                    name: (*s).to_owned(),
                    status: StepStatus::Pending,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    progress: None,
                })
                .collect(),
            error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Marks step `name` started (and the operation running). A re-run of a done step (after a
    /// crash) starts it again.
    pub fn start(&mut self, name: &str, at: OffsetDateTime) {
        self.status = OperationStatus::Running;
        self.error = None;
        self.updated_at = at;
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.status = StepStatus::Running;
            s.started_at = Some(at);
            s.finished_at = None;
            s.error = None;
            s.progress = None;
        }
    }

    /// Records how far running step `name` got; `false` (nothing changed) when it is not
    /// running, or already there.
    pub fn progress(&mut self, name: &str, progress: StepProgress, at: OffsetDateTime) -> bool {
        let Some(s) = self
            .steps
            .iter_mut()
            .find(|s| s.name == name && s.status == StepStatus::Running)
        else {
            return false;
        };
        if s.progress.as_ref() == Some(&progress) {
            return false;
        }
        s.progress = Some(progress);
        self.updated_at = at;
        true
    }

    /// Marks step `name` done; the operation succeeds when every step is done.
    pub fn finish(&mut self, name: &str, at: OffsetDateTime) {
        self.updated_at = at;
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.status = StepStatus::Done;
            s.finished_at = Some(at);
        }
        if self.steps.iter().all(|s| s.status == StepStatus::Done) {
            self.status = OperationStatus::Succeeded;
        }
    }

    /// Records a transient failure of step `name`: it will be tried again, the operation keeps
    /// running and shows why it is waiting.
    pub fn retrying(&mut self, name: &str, error: &str, at: OffsetDateTime) {
        self.updated_at = at;
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.error = Some(error.to_owned());
        }
        self.status = OperationStatus::Running;
        self.error = Some(format!("{name}: {error} (will retry)"));
    }

    /// Marks step `name` failed, and the operation with it, keeping the reason.
    pub fn fail(&mut self, name: &str, error: &str, at: OffsetDateTime) {
        self.updated_at = at;
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.status = StepStatus::Failed;
            s.finished_at = Some(at);
            s.error = Some(error.to_owned());
        }
        self.status = OperationStatus::Failed;
        self.error = Some(format!("{name}: {error}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_transitions_follow_the_life_of_a_site() {
        use SiteStatus::*;
        assert!(Creating.can_become(Active) && Creating.can_become(Failed));
        assert!(Failed.can_become(Creating), "retry");
        assert!(Active.can_become(Disabled) && Disabled.can_become(Active));
        assert!(!Deleting.can_become(Active), "a deleted site came back");
        assert!(!Creating.can_become(Disabled));
        assert!(!Active.can_become(Creating));
    }

    #[test]
    fn operations_record_steps_and_the_failure_reason() {
        let t = OffsetDateTime::now_utc();
        let mut op = Operation::new(
            TenantId::new(),
            None,
            "provision",
            &["site.create", "ssl.issue"],
        );
        op.start("site.create", t);
        assert_eq!(op.status, OperationStatus::Running);
        op.finish("site.create", t);
        assert_eq!(op.status, OperationStatus::Running);
        op.start("ssl.issue", t);
        op.fail("ssl.issue", "ACME refused", t);
        assert_eq!(op.status, OperationStatus::Failed);
        assert_eq!(op.error.as_deref(), Some("ssl.issue: ACME refused"));
        op.start("ssl.issue", t);
        op.finish("ssl.issue", t);
        assert_eq!(
            op.status,
            OperationStatus::Succeeded,
            "a retried step completes the operation"
        );
    }

    /// Progress is kept on the running step (and where it ended), dropped when the step starts
    /// again; a step that is not running takes none.
    #[test]
    fn a_running_step_keeps_its_progress_until_it_starts_again() {
        let t = OffsetDateTime::now_utc();
        let later = t + time::Duration::seconds(1);
        let mut op = Operation::new(TenantId::new(), None, "backup", &["backup.create"]);
        let p = |files| StepProgress {
            phase: "files".into(),
            files,
            bytes: 10 * files,
            files_expected: Some(100),
        };
        assert!(!op.progress("backup.create", p(1), t), "pending");
        op.start("backup.create", t);
        assert!(op.progress("backup.create", p(1), later));
        assert_eq!(op.updated_at, later);
        assert!(!op.progress("backup.create", p(1), later), "unchanged");
        assert!(!op.progress("other", p(2), later));
        assert!(op.progress("backup.create", p(100), later));
        op.finish("backup.create", later);
        assert_eq!(op.steps[0].progress, Some(p(100)), "where it ended");
        assert!(!op.progress("backup.create", p(3), later), "done");
        op.start("backup.create", later);
        assert_eq!(op.steps[0].progress, None);
        let json = serde_json::to_value(&op.steps[0]).unwrap_or_default();
        assert!(json.get("progress").is_none(), "{json}");
    }
}
