#![doc = include_str!("../README.md")]

mod registry;
mod runner;
mod scheduler;

pub use chom_kernel::jobs::{Job, JobError, Registration, Schedule};
pub use registry::{JobContext, JobHandler, Registry};
pub use runner::{RunStats, Runner, RunnerConfig};
pub use scheduler::Scheduler;
