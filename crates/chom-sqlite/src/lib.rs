#![doc = include_str!("../README.md")]

mod error;
mod plans;
mod queue;
mod store;

pub use error::map_err;
pub use plans::SqlitePlanRepository;
pub use queue::SqliteJobQueue;
pub use store::{MIGRATOR, SqliteStore, SqliteUnitOfWork};
