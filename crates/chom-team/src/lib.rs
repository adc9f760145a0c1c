#![doc = include_str!("../README.md")]

pub mod audit;
pub mod jobs;
pub mod model;
pub mod policy;
pub mod ports;
pub mod service;

pub use policy::{Action, RoleChangeError, after_change, allows, check_role_change};
pub use service::{Team, TeamError};
