//! Errors: transport failures, and which of them count against a server's circuit breaker.

use crate::endpoint::{Endpoint, label};
use std::time::Duration;

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The server presented another host key than the pinned one.
    #[error("the host key of {0} does not match the pinned key")]
    HostKeyMismatch(String),
    /// The server could not be reached or the login failed.
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// The command did not finish in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Too many recent failures: the server is not contacted for a while.
    #[error("circuit open for {0}: recent connections failed")]
    CircuitOpen(String),
    /// The agent did not answer with a protocol document.
    #[error("the agent gave no valid answer: {0}")]
    BadAnswer(String),
    /// Local I/O.
    #[error("{0}")]
    Io(String),
}

impl SshError {
    pub(crate) fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(..) | Self::Timeout(_) | Self::HostKeyMismatch(_)
        )
    }
}

pub(crate) fn classify(ep: &Endpoint, e: &openssh::Error) -> SshError {
    let text = format!("{e:?} {e}");
    if text.contains("Host key verification failed")
        || text.contains("HOST IDENTIFICATION HAS CHANGED")
    {
        SshError::HostKeyMismatch(label(ep))
    } else {
        SshError::Unreachable(label(ep), e.to_string())
    }
}
