#![doc = include_str!("../README.md")]

mod audit_link;
mod codec;
mod error;
mod queue;
mod shared;
mod store;

pub use error::map_err;
pub use queue::SqliteJobQueue;
pub use shared::{
    SESSION_QUERY, SqliteAudit, SqliteBackups, SqliteFleet, SqliteIdempotency, SqliteIdentity,
    SqlitePlanRepository, SqliteSites, SqliteTeam,
};
pub use store::{MIGRATOR, SqliteStore, SqliteUnitOfWork};
