#![doc = include_str!("../README.md")]

pub mod breaker;
pub mod client_addr;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod repository_server;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod wiring;

// The composition root lives in chom-runtime; these paths keep working for the app and its tests.
pub use chom_runtime::{config, jobs, telemetry};
pub use routes::audit::report as audit_report;
