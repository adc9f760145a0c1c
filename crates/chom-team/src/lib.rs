#![doc = include_str!("../README.md")]

pub mod audit;
pub mod policy;

pub use policy::{Action, RoleChangeError, after_change, allows, check_role_change};
