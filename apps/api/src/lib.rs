#![doc = include_str!("../README.md")]

pub mod client_addr;
pub mod config;
pub mod error;
pub mod extract;
pub mod fleet_gateway;
pub mod hashing;
pub mod jobs;
pub mod mail;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod wiring;
