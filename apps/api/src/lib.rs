//! The CHOM HTTP API: actix-web app, configuration, wiring, OpenAPI, health and metrics.
//! `chom-worker` reuses its configuration, wiring and job registry.

pub mod config;
pub mod error;
pub mod jobs;
pub mod middleware;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod wiring;
