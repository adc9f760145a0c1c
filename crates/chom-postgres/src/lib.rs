#![doc = include_str!("../README.md")]

mod audit_link;
mod codec;
mod error;
mod queue;
mod shared;
mod store;
pub mod testing;

pub use error::map_err;
pub use queue::PgJobQueue;
pub use shared::{
    PgAudit, PgBackups, PgFleet, PgIdempotency, PgIdentity, PgPlanRepository, PgSites, PgTeam,
    SESSION_QUERY,
};
pub use store::{MIGRATOR, PgStore, PgUnitOfWork};
