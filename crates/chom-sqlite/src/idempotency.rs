//! Idempotency-Key records (the kernel's `IdempotencyStore`) on SQLite.
//!
//! Generated at build time from `crates/chom-postgres/src/idempotency.rs` (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/idempotency.rs"));
