//! End-to-end tests: several real binaries of the workspace together (`chom-api`,
//! `chom-worker`, `chom-agent` over a loopback sshd), driven over HTTP and their command line.
//! `cargo xtask test` builds every binary first; alone, `cargo build --workspace --bins` then
//! `cargo nextest run -p chom-e2e`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod audit;
mod backups;
mod deployment;
mod first_start;
mod sites;
