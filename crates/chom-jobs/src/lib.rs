#![doc = include_str!("../README.md")]

mod registry;
mod runner;
mod scheduler;

pub use registry::{JobContext, JobError, JobHandler, Registry};
pub use runner::{RunStats, Runner, RunnerConfig};
pub use scheduler::{Schedule, Scheduler};
