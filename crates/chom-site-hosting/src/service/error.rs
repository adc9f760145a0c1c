//! Errors: what the use cases return, how a job attempt ended, and what a tenant is told
//! about a failed step.

use crate::admission::Refusal;
use chom_infrastructure::{FleetError, GatewayError};
use chom_kernel::StoreError;

/// Site use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A creation refused by the admission checks.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such site or operation in the caller's tenant.
    #[error("not found")]
    NotFound,
    /// The role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Invalid fields: (field, code, message).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, &'static str, String)>),
    /// Not possible in the site's state: (code, message).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The server could not be asked.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a job attempt ended, for the runner.
#[derive(Debug, thiserror::Error)]
pub enum JobOutcome {
    /// Try again later (the server was unreachable, storage hiccup).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (the payload names nothing).
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for JobOutcome {
    fn from(e: StoreError) -> Self {
        Self::Retry(e.to_string())
    }
}

/// What the runner does with a job's outcome: retry it, or bury it.
impl From<JobOutcome> for chom_kernel::jobs::JobError {
    fn from(e: JobOutcome) -> Self {
        match e {
            JobOutcome::Retry(m) => Self::Retryable(anyhow::anyhow!(m)),
            JobOutcome::Permanent(m) => Self::Permanent(anyhow::anyhow!(m)),
        }
    }
}

/// Whether a failed agent call may succeed later. A changed host key is not: retrying cannot
/// make the server present the pinned key, only an administrator can re-pin it, so the
/// operation fails at once with the reason (and the server is marked unhealthy).
pub(super) fn transient(e: &FleetError) -> bool {
    matches!(
        e,
        FleetError::Gateway(
            GatewayError::Unreachable(_)
                | GatewayError::BadAnswer(_)
                | GatewayError::HostKeyNotTrusted
        ) | FleetError::Store(_)
            | FleetError::Busy(_)
    )
}

/// What a tenant is told about a failed step: a stable code and a sentence, never the
/// transport's or a tool's own words (an `nginx -t` error can name another tenant's site on a
/// shared server; a transport error names hosts and sockets). The full error is logged with
/// the operation id and kept in the job's record for operators (L7).
#[must_use]
pub fn public_reason(e: &FleetError) -> String {
    match e {
        FleetError::Gateway(GatewayError::Unreachable(_)) => {
            "SERVER_UNREACHABLE: the server could not be reached".into()
        }
        FleetError::Gateway(GatewayError::HostKeyMismatch(_)) => {
            "SERVER_IDENTITY_CHANGED: the server's identity changed; an operator must confirm it"
                .into()
        }
        FleetError::Gateway(GatewayError::HostKeyNotTrusted) => {
            "SERVER_NOT_READY: the server is not set up yet".into()
        }
        FleetError::Gateway(GatewayError::BadAnswer(_)) => {
            "SERVER_ERROR: the server's agent did not answer as expected".into()
        }
        FleetError::Busy(_) => "SERVER_BUSY: the server is busy with another change".into(),
        FleetError::Agent(message) => {
            // The agent's own code (`COMMAND_FAILED: …`) is stable and names nothing.
            let code = message
                .split_once(':')
                .map(|(c, _)| c.trim())
                .filter(|c| {
                    !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                })
                .unwrap_or("Unknown");
            format!("SERVER_REFUSED ({code}): the server could not apply the change")
        }
        FleetError::Store(_) => "TEMPORARY_ERROR: a temporary error on our side".into(),
        _ => "OPERATION_FAILED: the operation could not be completed".into(),
    }
}
