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

pub use error::map_err;
pub use fleet::SqliteFleet;
pub use idempotency::SqliteIdempotency;
pub use identity::SqliteIdentity;
pub use plans::SqlitePlanRepository;
pub use queue::SqliteJobQueue;
pub use sites::SqliteSites;
pub use store::{MIGRATOR, SqliteStore, SqliteUnitOfWork};
