//! The error vocabulary storage adapters map driver errors into.

/// What can go wrong talking to a store (database, queue). Adapters map driver errors here:
/// unique violations become `Conflict`, connection failures and timeouts `Unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is not visible to the caller's tenant).
    #[error("not found")]
    NotFound,
    /// A uniqueness or other integrity constraint was violated; names the constraint.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The store could not be reached or timed out: safe to retry later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
