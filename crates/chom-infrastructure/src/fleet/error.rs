//! Errors: what a fleet use case can fail with.

use crate::ports::GatewayError;
use chom_kernel::StoreError;

/// Fleet use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Invalid fields (field, message).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, String)>),
    /// No such server.
    #[error("no such server")]
    NotFound,
    /// The host name is taken.
    #[error("a server with this host name exists")]
    HostnameTaken,
    /// Not allowed in the server's state.
    #[error("{0}")]
    Conflict(String),
    /// The server could not be used.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The agent refused.
    #[error("the agent refused: {0}")]
    Agent(String),
    /// The agent was busy with another changing command; nothing was done.
    #[error("the server is busy: {0}")]
    Busy(String),
    /// A key is pinned already and the request did not prove it knows which one (nor named
    /// the key the server presents now): nothing changed.
    #[error("{0}")]
    HostKeyAlreadyPinned(String),
    /// Site rows (deleted ones included, for `remove`; live ones, for `decommission`) name the
    /// server.
    #[error("{0} site(s) on this server")]
    HasSites(i64),
    /// Only a decommissioned server may be removed.
    #[error("the server is not decommissioned")]
    NotDecommissioned,
    /// The server presents another key than the administrator expects (fingerprint given).
    #[error("the server presents {0}, not the expected key")]
    HostKeyUnexpected(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}
