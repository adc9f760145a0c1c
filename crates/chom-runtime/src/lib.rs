#![doc = include_str!("../README.md")]

pub mod config;
pub mod first_start;
pub mod hashing;
pub mod jobs;
pub mod telemetry;
pub mod wiring;

pub use config::Settings;
pub use wiring::Services;
