#![doc = include_str!("../README.md")]

pub mod audit;
pub mod cache;
pub mod crypto;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod role;
pub mod store;
pub mod str_enum;
pub mod tenant;

pub use error::{Conflict, StoreError, UniqueKey};
pub use ids::*;
pub use role::Role;
pub use tenant::TenantContext;
