//! Site status and operations.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a site is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteStatus {
    /// Being provisioned.
    Creating,
    /// Served.
    Active,
    /// Not served (vhost off), files and database kept.
    Disabled,
    /// Provisioning failed; the reason is kept; retry is possible.
    Failed,
    /// Being removed.
    Deleting,
    /// A backup is being restored; the previous state is kept until success.
    Restoring,
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

/// An operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    /// Queued.
    Pending,
    /// A worker is on it.
    Running,
    /// Done.
    Succeeded,
    /// Stopped by an error.
    Failed,
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
    pub started_at: Option<OffsetDateTime>,
    /// End.
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A long-running piece of work and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Kind (`provision`, `delete`, `enable`…).
    pub kind: String,
    /// State.
    pub status: OperationStatus,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The error that stopped it.
    pub error: Option<String>,
}

impl Operation {
    /// A pending operation with these steps.
    #[must_use]
    pub fn new(kind: &str, steps: &[&str]) -> Self {
        Self {
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
                })
                .collect(),
            error: None,
        }
    }

    /// Marks step `name` started (and the operation running). A re-run of a done step (after a
    /// crash) starts it again.
    pub fn start(&mut self, name: &str, at: OffsetDateTime) {
        self.status = OperationStatus::Running;
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.status = StepStatus::Running;
            s.started_at = Some(at);
            s.finished_at = None;
            s.error = None;
        }
    }

    /// Marks step `name` done; the operation succeeds when every step is done.
    pub fn finish(&mut self, name: &str, at: OffsetDateTime) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == name) {
            s.status = StepStatus::Done;
            s.finished_at = Some(at);
        }
        if self.steps.iter().all(|s| s.status == StepStatus::Done) {
            self.status = OperationStatus::Succeeded;
        }
    }

    /// Marks step `name` failed, and the operation with it, keeping the reason.
    pub fn fail(&mut self, name: &str, error: &str, at: OffsetDateTime) {
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
        let mut op = Operation::new("provision", &["site.create", "ssl.issue"]);
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
}
