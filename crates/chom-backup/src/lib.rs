#![doc = include_str!("../README.md")]

pub mod jobs;
pub mod model;
pub mod ports;
pub mod service;
#[cfg(test)]
mod testing;

pub use model::{BackupSchedule, Frequency, ScheduleInput, Weekday};
pub use ports::ScheduleRepository;
pub use service::{BackupError, BackupPorts, Backups};
