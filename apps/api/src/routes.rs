//! HTTP routes, one module per area.

pub mod docs;
pub mod health;
pub mod metrics;
pub mod plans;
