//! Handlers by job kind.

use async_trait::async_trait;
use chom_kernel::jobs::{ClaimedJob, JobError, Registration};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a handler gets: the job, and a token cancelled when the worker shuts down and the
/// grace period ran out (a handler may stop early; its job is then released, not failed).
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The claimed job.
    pub job: ClaimedJob,
    /// Cancelled at the end of the shutdown grace period.
    pub shutdown: CancellationToken,
}

/// Runs jobs of one kind. Must be idempotent: delivery is at-least-once.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Does the work.
    ///
    /// # Errors
    /// `Retryable` to retry with backoff, `Permanent` to bury the job at once.
    async fn run(&self, ctx: JobContext) -> Result<(), JobError>;
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), JobError>> + Send,
{
    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        (self.0)(ctx).await
    }
}

/// A context's declared handler; it does not watch for shutdown (its job is released, not
/// failed, if the grace period runs out).
struct Declared(Registration);

#[async_trait]
impl JobHandler for Declared {
    async fn run(&self, ctx: JobContext) -> Result<(), JobError> {
        self.0.run(ctx.job).await
    }
}

/// The handlers a worker can run, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a handler for `kind`.
    #[must_use]
    pub fn with(mut self, kind: impl Into<String>, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(kind.into(), handler);
        self
    }

    /// Registers an async closure for `kind`.
    #[must_use]
    pub fn with_fn<F, Fut>(self, kind: impl Into<String>, f: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.with(kind, Arc::new(FnHandler(f)))
    }

    /// Registers what a context declared.
    #[must_use]
    pub fn register(self, registration: Registration) -> Self {
        let kind = registration.kind().to_owned();
        self.with(kind, Arc::new(Declared(registration)))
    }

    /// The handler of `kind`.
    #[must_use]
    pub fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    /// Registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}
