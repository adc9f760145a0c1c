#![doc = include_str!("../README.md")]

pub mod admission;
pub mod model;

pub use admission::{Admission, AdmissionInput, Refusal, admit};
pub use model::{Operation, OperationStatus, SiteStatus, Step, StepStatus};
