#![doc = include_str!("../README.md")]

pub mod jobs;
pub mod model;
pub mod ports;
pub mod repository;
pub mod service;
#[cfg(test)]
mod testing;

pub use model::{
    Backup, BackupFilter, BackupSchedule, BackupStatus, Frequency, ScheduleInput, Trigger, Weekday,
};
pub use ports::{BackupRepository, ScheduleRepository};
pub use repository::{Access, Repositories};
pub use service::{
    BackupError, BackupJob, BackupPorts, Backups, JobOutcome, PRUNE_BACKUPS, Pruned, RUN_BACKUP,
    RUN_RESTORE, RestoreJob, SCHEDULE_BACKUPS, Tick, VERIFY_BACKUPS, Verified, WorkPorts,
};
