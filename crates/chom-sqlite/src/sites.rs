//! Sites and operations (site-hosting ports) on SQLite.
//!
//! Generated at build time from `crates/chom-postgres/src/sites.rs` (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/sites.rs"));
