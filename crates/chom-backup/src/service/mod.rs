//! The backup application service: one file per use case.

use crate::ports::ScheduleRepository;
use chom_kernel::store::Store;
use std::sync::Arc;

mod error;
mod schedule;
#[cfg(test)]
mod tests;

pub use error::BackupError;

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

/// Backup use cases.
#[derive(Clone)]
pub struct Backups {
    ports: BackupPorts,
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
        Self { ports }
    }
}
