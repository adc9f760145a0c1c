//! The VPS fleet (infrastructure ports) on SQLite.
//!
//! Generated at build time from `crates/chom-postgres/src/fleet.rs` (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/fleet.rs"));
