//! The jobs of this context, collected by `chom-runtime` (`jobs()` for the handlers,
//! `schedules()` for the periodic ones). None yet: the scheduled-backup, pruning and
//! verified-restore jobs are planned (issue 13). The first one is declared here as in
//! `chom-site-hosting/src/jobs.rs`: `impl Job for <Payload> { const KIND = "backup::<verb>" }`,
//! a `Registration` in `jobs()` and, when periodic, its `Schedule` in `schedules()` (a runtime
//! test fails when a periodic handler has no schedule).

use crate::service::Backups;
use chom_kernel::jobs::{Registration, Schedule};

/// Every handler of this context.
#[must_use]
pub fn jobs(_backups: &Backups) -> Vec<Registration> {
    Vec::new()
}

/// When this context's periodic handlers run.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    Vec::new()
}
