//! Identity repositories (auth + tenancy ports) on SQLite.
//!
//! Generated at build time from `crates/chom-postgres/src/identity.rs` (see `build.rs`): the
//! same SQL with `?n` placeholders, over this crate's `codec` (ids as UUID text, times as Unix
//! milliseconds). Edit the PostgreSQL file; this one follows.

include!(concat!(env!("OUT_DIR"), "/identity.rs"));
