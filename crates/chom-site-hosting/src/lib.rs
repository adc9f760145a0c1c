#![doc = include_str!("../README.md")]

pub mod admission;
pub mod jobs;
pub mod model;
pub mod ports;
pub mod service;
#[cfg(test)]
mod testing;

pub use admission::{Admission, AdmissionInput, Refusal, admit};
pub use model::{Operation, OperationStatus, Site, SiteStatus, Step, StepProgress, StepStatus};
pub use ports::{SiteFilter, SiteRepository, VpsLoad};
pub use service::{
    CreateSite, JobOutcome, MEASURE_STORAGE, OperationJob, REAP_OPERATIONS, RENEW_CERTIFICATES,
    RUN_OPERATION, SiteAction, SiteError, Sites, SitesConfig, SitesPorts,
};
