//! The worker loop: claim, run, acknowledge; heartbeat and rescue in the background; graceful
//! shutdown that finishes or releases what is running.
//!
//! A handler runs only while its lease holds: each job knows when its lease was last renewed
//! (its claim, then every successful heartbeat) and is stopped (its future dropped) shortly
//! before that lease would expire. A database outage longer than the lease therefore stops the
//! handler here before the lease sweep hands the job to another worker, instead of letting two
//! runs of one job act side by side.

mod background;
mod job;

use background::{complete_loop, heartbeat_loop, rescue_loop};
use job::run_one;

use crate::registry::{JobContext, Registry};
use chom_kernel::JobId;
use chom_kernel::jobs::JobError;
use chom_kernel::jobs::{ClaimedJob, JobQueue, LeaseRef, RetryPolicy, WorkerId};
use futures::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Tuning of one runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Prefix of the worker id (host name or process role).
    pub worker_prefix: String,
    /// Queues to take jobs from.
    pub queues: Vec<String>,
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// Most jobs claimed in one round trip.
    pub claim_batch: u32,
    /// Lease granted per claim and per heartbeat.
    pub lease: Duration,
    /// Heartbeat period (a third of the lease is a good value).
    pub heartbeat_every: Duration,
    /// Longest idle wait when no wake-up arrives.
    pub poll_interval: Duration,
    /// Period of the expired-lease sweep.
    pub rescue_every: Duration,
    /// Time running jobs get to finish after shutdown is requested.
    pub shutdown_grace: Duration,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            worker_prefix: "worker".into(),
            queues: vec![chom_kernel::jobs::DEFAULT_QUEUE.into()],
            concurrency: 16,
            claim_batch: 64,
            lease: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            rescue_every: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(20),
            retry: RetryPolicy::default(),
        }
    }
}

/// What a runner did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Jobs acknowledged as done.
    pub done: u64,
    /// Failed attempts scheduled for a retry.
    pub retried: u64,
    /// Jobs buried.
    pub dead: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Jobs stopped because their lease could not be renewed in time (left to the lease sweep).
    pub lost: u64,
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    released: AtomicU64,
    lost: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RunStats {
        RunStats {
            done: self.done.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}

type InFlight = Arc<Mutex<HashMap<JobId, LeaseRef>>>;

fn lock(m: &InFlight) -> std::sync::MutexGuard<'_, HashMap<JobId, LeaseRef>> {
    // Only single inserts/removes happen under this lock: a poisoned map is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs jobs from a queue until cancelled.
pub struct Runner {
    queue: Arc<dyn JobQueue>,
    registry: Registry,
    config: RunnerConfig,
    worker: WorkerId,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("worker", &self.worker)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Shared by the job tasks of one runner.
struct Shared {
    queue: Arc<dyn JobQueue>,
    registry: Registry,
    worker: WorkerId,
    retry: RetryPolicy,
    counters: Arc<Counters>,
    in_flight: InFlight,
    done_tx: mpsc::UnboundedSender<LeaseRef>,
    job_shutdown: CancellationToken,
    /// When the last successful heartbeat started (it renewed every lease held then).
    renewed: watch::Receiver<Instant>,
    /// How long a lease is trusted after its claim or renewal started.
    lease_trust: Duration,
}

/// How long a lease is trusted after the claim or heartbeat that set it started: the lease less
/// a tenth, so a handler is stopped before the database sees the lease expire.
fn lease_trust(lease: Duration) -> Duration {
    lease.saturating_sub(lease / 10)
}

impl Runner {
    /// A runner with a fresh worker id.
    #[must_use]
    pub fn new(queue: Arc<dyn JobQueue>, registry: Registry, config: RunnerConfig) -> Self {
        let worker = WorkerId::generate(&config.worker_prefix);
        Self {
            queue,
            registry,
            config,
            worker,
        }
    }

    /// The id its leases are recorded under.
    #[must_use]
    pub fn worker_id(&self) -> &WorkerId {
        &self.worker
    }

    /// Runs until `shutdown` is cancelled, then finishes or releases the running jobs.
    ///
    /// # Errors
    /// Never for store trouble (logged and retried); only if a background task panicked.
    #[tracing::instrument(skip_all, fields(worker.id = %self.worker))]
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<RunStats> {
        let Self {
            queue,
            registry,
            config,
            worker,
        } = self;
        tracing::info!(queues = ?config.queues, concurrency = config.concurrency, "worker started");
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (renewed_tx, renewed) = watch::channel(Instant::now());
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            queue: queue.clone(),
            registry,
            worker: worker.clone(),
            retry: config.retry,
            counters: counters.clone(),
            in_flight: Arc::default(),
            done_tx,
            job_shutdown: CancellationToken::new(),
            renewed,
            lease_trust: lease_trust(config.lease),
        });
        let maintenance = CancellationToken::new();
        let completer = tokio::spawn(complete_loop(
            queue.clone(),
            worker.clone(),
            counters.clone(),
            done_rx,
        ));
        let heartbeat = tokio::spawn(heartbeat_loop(
            queue.clone(),
            worker.clone(),
            config.clone(),
            shared.in_flight.clone(),
            renewed_tx,
            maintenance.clone(),
        ));
        let rescue = tokio::spawn(rescue_loop(
            queue.clone(),
            config.rescue_every,
            maintenance.clone(),
        ));

        let semaphore = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut wakeup = match queue.wakeup().await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "no wake-up channel; polling only");
                None
            }
        };

        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let free = semaphore.available_permits();
            if free == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    permit = semaphore.clone().acquire_owned() => drop(permit),
                }
                continue;
            }
            let limit = u32::try_from(free)
                .unwrap_or(u32::MAX)
                .min(config.claim_batch);
            // The lease runs from (at the latest) this instant.
            let claimed_at = Instant::now();
            let jobs = match queue
                .claim(&worker, &config.queues, limit, config.lease)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; backing off");
                    metrics::counter!("chom_job_claim_errors_total").increment(1);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(config.poll_interval) => {}
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = idle(&mut wakeup, config.poll_interval) => {}
                }
                continue;
            }
            for job in jobs {
                let Ok(permit) = semaphore.clone().try_acquire_owned() else {
                    // Cannot happen: we claimed at most `free` jobs and only this loop takes
                    // permits. Hand the job back rather than overrun the concurrency limit.
                    let _ = queue.release(&worker, &[job.lease()]).await;
                    continue;
                };
                lock(&shared.in_flight).insert(job.id, job.lease());
                let shared = shared.clone();
                tasks.spawn(async move {
                    run_one(&shared, job, claimed_at).await;
                    drop(permit);
                });
            }
        }

        tracing::info!(
            running = tasks.len(),
            "shutdown requested; finishing running jobs"
        );
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(config.shutdown_grace, all_done)
            .await
            .is_err()
        {
            shared.job_shutdown.cancel();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let leftovers: Vec<LeaseRef> = lock(&shared.in_flight).drain().map(|(_, l)| l).collect();
        if !leftovers.is_empty() {
            match queue.release(&worker, &leftovers).await {
                Ok(n) => {
                    shared.counters.released.fetch_add(n, Ordering::Relaxed);
                    metrics::counter!("chom_jobs_total", "outcome" => "released").increment(n);
                    tracing::info!(released = n, "released unfinished jobs");
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not release jobs; their leases will expire")
                }
            }
        }
        drop(shared); // the last sender: the completer drains what is left and stops
        completer.await?;
        maintenance.cancel();
        heartbeat.await?;
        rescue.await?;
        let stats = counters.snapshot();
        tracing::info!(?stats, "worker stopped");
        Ok(stats)
    }
}

async fn idle(wakeup: &mut Option<Box<dyn chom_kernel::jobs::Wakeup>>, max: Duration) {
    match wakeup {
        Some(w) => w.wait(max).await,
        None => tokio::time::sleep(max).await,
    }
}
