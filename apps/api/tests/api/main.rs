//! Black-box tests of the API: the real app on a free port, on both storage backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod audit;
mod backups;
mod binary;
mod conformance;
mod docs;
mod errors;
mod fleet;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod identity;
mod lists;
mod metrics;
mod plans;
mod roles;
mod sites;
mod team;
