#![doc = include_str!("../README.md")]

pub mod admin;
pub mod identity;
pub mod jobs;
pub mod model;
pub mod plans;
pub mod ports;
pub mod session_cache;

pub use model::standing;
pub use plans::{Plan, PlanCode, PlanCodeError, PlanRepository};
