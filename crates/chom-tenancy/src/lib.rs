#![doc = include_str!("../README.md")]

pub mod plans;

pub use plans::{Plan, PlanCode, PlanCodeError, PlanRepository};
