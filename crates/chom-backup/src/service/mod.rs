//! The backup application service: one file per use case (`schedule`, `backups`: asking for,
//! listing, reading and deleting backups; `run`: the job that has the agent write one).

use crate::ports::{BackupRepository, ScheduleRepository};
use crate::repository::Repositories;
use chom_infrastructure::Fleet;
use chom_kernel::crypto::Sealer;
use chom_kernel::store::Store;
use chom_site_hosting::ports::SiteRepository;
use chom_tenancy::PlanRepository;
use chom_tenancy::ports::OrganizationRepository;
use std::sync::Arc;

mod alerts;
mod backups;
mod error;
mod prune;
mod restore;
mod run;
mod schedule;
mod scheduled;
#[cfg(test)]
mod tests;
mod verify;

pub use alerts::{
    AlertJob, AlertMail, AlertReason, MAIL_ALERT, SEND_ALERT, WATCH_BACKUPS, Watched,
};
pub use backups::{Download, RUN_BACKUP};
pub use error::BackupError;
pub use prune::{PRUNE_BACKUPS, Pruned};
pub use restore::{RUN_RESTORE, RestoreJob};
pub use run::{BackupJob, JobOutcome};
pub use scheduled::{SCHEDULE_BACKUPS, Tick};
pub use verify::{VERIFY_BACKUPS, Verified};

/// The ports the service works through.
#[derive(Clone)]
pub struct BackupPorts {
    /// Units of work.
    pub store: Arc<dyn Store>,
    /// Site backup schedules.
    pub schedules: Arc<dyn ScheduleRepository>,
    /// Records every change, in the change's unit of work.
    pub audit: Arc<dyn chom_kernel::audit::AuditTrail>,
}

/// The ports backups themselves need (the schedules need none of them): wired by the
/// composition root with [`Backups::with_work`].
#[derive(Clone)]
pub struct WorkPorts {
    /// Backups and repository passwords.
    pub backups: Arc<dyn BackupRepository>,
    /// Sites (the tenant's, scoped) and operations (progress).
    pub sites: Arc<dyn SiteRepository>,
    /// Tenants (their plan).
    pub orgs: Arc<dyn OrganizationRepository>,
    /// Plans (storage, retention).
    pub plans: Arc<dyn PlanRepository>,
    /// The agent on each server.
    pub fleet: Fleet,
    /// Seals repository passwords.
    pub sealer: Arc<Sealer>,
    /// Repository credentials and locations.
    pub repositories: Arc<Repositories>,
    /// Scheduled backups pending or running on one server at most (manual ones are not held).
    pub max_backups_per_server: i64,
    /// Forgets and prunes snapshots with the full credential.
    pub maintenance: Arc<dyn crate::ports::RepositoryMaintenance>,
}

/// Backup use cases.
#[derive(Clone)]
pub struct Backups {
    ports: BackupPorts,
    work: Option<Arc<WorkPorts>>,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups").finish_non_exhaustive()
    }
}

impl Backups {
    /// The service over `ports`.
    #[must_use]
    pub fn new(ports: BackupPorts) -> Self {
        Self { ports, work: None }
    }

    /// The same service, able to make, list and run backups.
    #[must_use]
    pub fn with_work(mut self, work: WorkPorts) -> Self {
        self.work = Some(Arc::new(work));
        self
    }

    /// The backups' ports (`Unexpected` when the composition root did not wire them).
    pub(crate) fn work(&self) -> Result<&WorkPorts, chom_kernel::StoreError> {
        self.work.as_deref().ok_or_else(|| {
            chom_kernel::StoreError::Unexpected(anyhow::anyhow!(
                "the backup service was built without its backup ports"
            ))
        })
    }
}
