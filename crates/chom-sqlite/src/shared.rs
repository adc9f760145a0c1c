//! The repositories written once for both backends, generated for SQLite at build time
//! (ADR 0006, `docs/adr/0006-one-sql-text-two-backends.md`).
//!
//! `build.rs` translates every file of `crates/chom-postgres/src/shared/`: the same SQL with
//! `?n` placeholders, the same module tree, `Sqlite<Name>` types for `Pg<Name>`, over this
//! crate's `codec` (ids as UUID text, times as Unix milliseconds). Edit the files there; this
//! module follows. The guard test `tests/generated.rs` checks the translation.

include!(concat!(env!("OUT_DIR"), "/shared.rs"));
