#![doc = include_str!("../README.md")]

mod codec;
mod error;
mod fleet;
mod idempotency;
mod identity;
mod plans;
mod queue;
mod sites;
mod store;
pub mod testing;

pub use error::map_err;
pub use fleet::PgFleet;
pub use idempotency::PgIdempotency;
pub use identity::{PgIdentity, SESSION_QUERY};
pub use plans::PgPlanRepository;
pub use queue::PgJobQueue;
pub use sites::PgSites;
pub use store::{MIGRATOR, PgStore, PgUnitOfWork};
