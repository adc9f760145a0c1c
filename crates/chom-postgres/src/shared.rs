//! The repositories written once for both backends
//! (`docs/adr/0006-one-sql-text-two-backends.md`).
//!
//! Every file under `src/shared/` is compiled here for PostgreSQL and, translated by
//! `crates/chom-sqlite/build.rs`, for SQLite: `$n` placeholders become `?n` and every type
//! named `Pg<Name>` becomes `Sqlite<Name>`. Storage differences (ids, times, row locks) live in
//! each crate's `src/codec.rs`; SQL here must be portable (see the ADR). A file added to the
//! directory must be declared below (the SQLite build refuses one that is not).

mod audit;
pub(crate) mod audit_row;
mod backups;
pub(crate) mod exec;
mod fleet;
mod idempotency;
mod identity;
mod plans;
mod sites;
mod team;

pub use audit::PgAudit;
pub use backups::PgBackups;
pub use fleet::PgFleet;
pub use idempotency::PgIdempotency;
pub use identity::{PgIdentity, SESSION_QUERY};
pub use plans::PgPlanRepository;
pub use sites::PgSites;
pub use team::PgTeam;
