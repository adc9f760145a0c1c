//! The job queue port and its vocabulary.
//!
//! At-least-once delivery: a claimed job holds a lease that its worker extends by heartbeat;
//! a worker that dies stops heartbeating, its lease expires and [`JobQueue::rescue_expired`]
//! puts the job back (or buries it once its attempts are spent). Handlers must be idempotent.
//! Completion is fenced by `(job id, attempt, worker)`: a late finisher whose lease was taken
//! over cannot complete or fail the job any more.

mod handlers;
mod schedule;

pub use handlers::{Job, JobError, JobFuture, Registration};
pub use schedule::Schedule;

use crate::error::StoreError;
use crate::ids::{JobId, TenantId};
use async_trait::async_trait;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use time::OffsetDateTime;

/// The default queue name.
pub const DEFAULT_QUEUE: &str = "default";

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name, namespaced by context: `"site_hosting::provision_site"`.
    pub kind: String,
    /// Queue the job goes to.
    pub queue: String,
    /// Handler arguments.
    pub payload: serde_json::Value,
    /// Earliest start; `None` means now.
    pub run_at: Option<OffsetDateTime>,
    /// Attempts before the job goes `dead`.
    pub max_attempts: i32,
    /// At most one job ever exists with a given key (periodic jobs: kind + window).
    pub unique_key: Option<String>,
    /// Tenant the work belongs to, when it belongs to one.
    pub tenant_id: Option<TenantId>,
    /// Correlation id of the request that caused the job.
    pub request_id: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload`, on the default queue, 5 attempts.
    #[must_use]
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            queue: DEFAULT_QUEUE.to_owned(),
            payload,
            run_at: None,
            max_attempts: 5,
            unique_key: None,
            tenant_id: None,
            request_id: None,
        }
    }

    /// Sets the queue.
    #[must_use]
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Sets the number of attempts (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets a unique key.
    #[must_use]
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Delays the first run.
    #[must_use]
    pub fn run_at(mut self, at: OffsetDateTime) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Records the request that caused the job.
    #[must_use]
    pub fn request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }

    /// Records the tenant the job works for.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant_id = Some(tenant);
        self
    }
}

/// Identifies one worker process (and its leases).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkerId(String);

impl WorkerId {
    /// A new worker id: host-ish prefix plus a random suffix.
    #[must_use]
    pub fn generate(prefix: &str) -> Self {
        Self(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as stored in the lease column.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job claimed by a worker, with the lease that fences its completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// Job id.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// Handler arguments.
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it was enqueued.
    pub created_at: OffsetDateTime,
    /// When it became runnable (enqueue time or retry time).
    pub run_at: OffsetDateTime,
    /// Correlation id of the request that caused it.
    pub request_id: Option<String>,
    /// Tenant it works for.
    pub tenant_id: Option<TenantId>,
}

impl ClaimedJob {
    /// The fencing token of this attempt.
    #[must_use]
    pub fn lease(&self) -> LeaseRef {
        LeaseRef {
            id: self.id,
            attempt: self.attempt,
        }
    }
}

/// `(job, attempt)`: what a worker must present to finish a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseRef {
    /// Job id.
    pub id: JobId,
    /// Attempt number the lease was granted for.
    pub attempt: i32,
}

crate::str_enum! {
    /// Life cycle of a job.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum JobState: "job state" {
        /// Waiting for `run_at`, or for a worker.
        Queued = "queued",
        /// Leased by a worker.
        Running = "running",
        /// Finished successfully.
        Done = "done",
        /// Attempts spent; `last_error` says why.
        Dead = "dead",
    }
}

/// A job as stored, for inspection (admin pages, tests).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Job id.
    pub id: JobId,
    /// Handler name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// State.
    pub state: JobState,
    /// Attempts made so far.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Next earliest start.
    pub run_at: OffsetDateTime,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Unique key, if any.
    pub unique_key: Option<String>,
    /// Enqueue time.
    pub created_at: OffsetDateTime,
    /// Completion (done or dead) time.
    pub finished_at: Option<OffsetDateTime>,
}

/// Number of jobs per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Waiting.
    pub queued: i64,
    /// Leased.
    pub running: i64,
    /// Finished.
    pub done: i64,
    /// Given up.
    pub dead: i64,
}

impl QueueCounts {
    /// Builds the counts from `(state, count)` rows as adapters read them.
    ///
    /// # Errors
    /// A row holds an unknown state.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, i64)>) -> Result<Self, StoreError> {
        let mut counts = Self::default();
        for (state, n) in rows {
            match JobState::parse(&state)? {
                JobState::Queued => counts.queued = n,
                JobState::Running => counts.running = n,
                JobState::Done => counts.done = n,
                JobState::Dead => counts.dead = n,
            }
        }
        Ok(counts)
    }
}

/// Wakes a waiting worker when jobs are enqueued (LISTEN/NOTIFY, or an in-process signal).
#[async_trait]
pub trait Wakeup: Send {
    /// Returns when new work may be available, or after `max`.
    async fn wait(&mut self, max: Duration);
}

/// The durable job queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues a job in a transaction of its own (for work not tied to a state change).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn enqueue(&self, job: NewJob) -> Result<Option<JobId>, StoreError>;

    /// Leases up to `limit` runnable jobs of `queues` to `worker` for `lease`.
    /// Each claim counts as an attempt.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn claim(
        &self,
        worker: &WorkerId,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Extends every lease `worker` holds. Returns how many.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn heartbeat(&self, worker: &WorkerId, lease: Duration) -> Result<u64, StoreError>;

    /// Marks jobs done. Leases no longer held by `worker` are ignored; returns how many were
    /// completed.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn complete(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError>;

    /// Records a failed attempt: back to `queued` after `retry_in`, or `dead` when `None`.
    /// Returns false when the lease is no longer held.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn fail(
        &self,
        worker: &WorkerId,
        job: LeaseRef,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// Gives leased jobs back without counting the attempt (graceful shutdown).
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn release(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError>;

    /// Requeues jobs whose lease expired (their worker died), or buries those whose attempts
    /// are spent. Returns how many rows changed.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn rescue_expired(&self) -> Result<u64, StoreError>;

    /// Reads one job.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, StoreError>;

    /// Jobs per state.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn counts(&self) -> Result<QueueCounts, StoreError>;

    /// Deletes `done` jobs finished before `done_before` ago and `dead` jobs finished before
    /// `dead_before` ago. Returns how many rows were deleted.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn prune(&self, done_before: Duration, dead_before: Duration) -> Result<u64, StoreError>;

    /// A wake-up source for idle workers.
    ///
    /// # Errors
    /// `Unavailable` when the notification channel cannot be opened.
    async fn wakeup(&self) -> Result<Box<dyn Wakeup>, StoreError>;
}

/// Exponential backoff with "equal jitter": attempt `n` waits between `d/2` and `d`, where
/// `d = base * 2^(n-1)`, and never longer than `cap`. The lower bound of attempt `n+1` equals the
/// upper bound of attempt `n`, so delays never shrink (capping after jittering keeps that true at
/// the cap), and jitter still spreads retry storms below the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay scale of the first retry.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    fn uncapped(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base.saturating_mul(1u32 << exp)
    }

    /// Upper bound of the delay after failed attempt `attempt` (1-based).
    #[must_use]
    pub fn ceiling(&self, attempt: i32) -> Duration {
        self.uncapped(attempt).min(self.cap)
    }

    /// Lower bound of the delay after failed attempt `attempt` (1-based).
    #[must_use]
    pub fn floor(&self, attempt: i32) -> Duration {
        (self.uncapped(attempt) / 2).min(self.cap)
    }

    /// The delay after failed attempt `attempt`, jittered.
    #[must_use]
    pub fn delay(&self, attempt: i32) -> Duration {
        let d = self.uncapped(attempt);
        let half = d / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        (half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(60),
        };
        for _ in 0..1_000 {
            let mut previous = Duration::ZERO;
            for attempt in 1..=12 {
                let d = p.delay(attempt);
                assert!(d >= p.floor(attempt) && d <= p.ceiling(attempt));
                assert!(d >= previous, "attempt {attempt}: {d:?} < {previous:?}");
                previous = d;
            }
        }
        assert_eq!(p.ceiling(40), Duration::from_secs(60));
    }

    #[test]
    fn delays_are_jittered() {
        let p = RetryPolicy::default();
        let samples: std::collections::HashSet<_> = (0..50).map(|_| p.delay(3)).collect();
        assert!(samples.len() > 10);
    }

    #[test]
    fn job_states_round_trip() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ] {
            assert_eq!(JobState::parse(s.as_str()).unwrap(), s);
        }
        assert!(JobState::parse("lost").is_err());
    }
}
