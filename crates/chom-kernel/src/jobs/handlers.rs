//! What a context hands the worker: typed jobs, their handlers, and whether a schedule drives
//! them. Each context lists its own (`jobs()` and `schedules()` beside its service); the
//! composition root concatenates the lists, so a kind, its payload, its handler and its
//! schedule live in one file.

use super::ClaimedJob;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (timeouts, unavailable dependencies).
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// Retrying cannot help (bad payload, refused by policy): the job goes `dead` at once.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::Retryable(e)
    }
}

/// A job payload with its kind: the kind string is what the queue stores, so it never changes
/// once jobs of it may be queued (renaming it strands them).
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The kind, `context::verb_object`.
    const KIND: &'static str;
}

/// The future a handler returns.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

type Run = Arc<dyn Fn(ClaimedJob) -> JobFuture + Send + Sync>;

/// A handler for one kind of job, as a context declares it.
#[derive(Clone)]
pub struct Registration {
    kind: String,
    periodic: bool,
    run: Run,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("kind", &self.kind)
            .field("periodic", &self.periodic)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Handles jobs of `J::KIND`, their payload decoded once (a payload that does not decode
    /// is a permanent failure: retrying cannot fix it).
    pub fn job<J, F, Fut>(handler: F) -> Self
    where
        J: Job,
        F: Fn(J, ClaimedJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        Self::payload::<J, F, Fut>(J::KIND, handler)
    }

    /// Handles jobs of `kind` whose payload is a `P` (for a payload shared by several kinds).
    pub fn payload<P, F, Fut>(kind: &str, handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(P, ClaimedJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self {
            kind: kind.to_owned(),
            periodic: false,
            run: Arc::new(move |job: ClaimedJob| -> JobFuture {
                match serde_json::from_value::<P>(job.payload.clone()) {
                    Ok(payload) => Box::pin(handler(payload, job)),
                    Err(e) => Box::pin(std::future::ready(Err(JobError::Permanent(
                        anyhow::anyhow!("bad payload for {}: {e}", job.kind),
                    )))),
                }
            }),
        }
    }

    /// Handles the periodic job `kind`, which carries no payload: something must schedule it
    /// (the composition root's test checks that every periodic kind has a schedule).
    pub fn periodic<F, Fut>(kind: &str, handler: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self {
            kind: kind.to_owned(),
            periodic: true,
            run: Arc::new(move |_job: ClaimedJob| -> JobFuture { Box::pin(handler()) }),
        }
    }

    /// The kind handled.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Whether a schedule, not a use case, enqueues this kind.
    #[must_use]
    pub fn is_periodic(&self) -> bool {
        self.periodic
    }

    /// Runs the handler on `job`.
    #[must_use]
    pub fn run(&self, job: ClaimedJob) -> JobFuture {
        (self.run)(job)
    }
}
