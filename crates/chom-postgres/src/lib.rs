#![doc = include_str!("../README.md")]

mod error;
mod plans;
mod queue;
mod store;
pub mod testing;

pub use error::map_err;
pub use plans::PgPlanRepository;
pub use queue::PgJobQueue;
pub use store::{MIGRATOR, PgStore, PgUnitOfWork};
