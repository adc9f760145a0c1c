//! The worker loop: claim, run, acknowledge; heartbeat and rescue in the background; graceful
//! shutdown that finishes or releases what is running.
//!
//! A handler runs only while its lease holds: each job knows when its lease was last renewed
//! (its claim, then every successful heartbeat) and is stopped (its future dropped) shortly
//! before that lease would expire. A database outage longer than the lease therefore stops the
//! handler here before the lease sweep hands the job to another worker, instead of letting two
//! runs of one job act side by side.

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

/// Resolves once the lease of a job claimed at `claimed_at` may have expired: `trust` after the
/// later of its claim and the start of the last successful heartbeat.
async fn lease_lost(mut renewed: watch::Receiver<Instant>, claimed_at: Instant, trust: Duration) {
    loop {
        let deadline = (*renewed.borrow_and_update()).max(claimed_at) + trust;
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => return,
            changed = renewed.changed() => {
                if changed.is_err() {
                    // No more heartbeats: the lease ends at the deadline.
                    tokio::time::sleep_until(deadline.into()).await;
                    return;
                }
            }
        }
    }
}

async fn run_one(shared: &Shared, job: ClaimedJob, claimed_at: Instant) {
    let kind = job.kind.clone();
    let lease = job.lease();
    let wait = (time::OffsetDateTime::now_utc() - job.run_at)
        .as_seconds_f64()
        .max(0.0);
    metrics::histogram!("chom_job_wait_seconds", "kind" => kind.clone()).record(wait);
    let span = tracing::info_span!("job", job.id = %job.id, job.kind = %kind, job.attempt = job.attempt,
        request_id = job.request_id.as_deref().unwrap_or(""));
    let started = Instant::now();
    let outcome = match shared.registry.get(&kind) {
        None => Err(JobError::Permanent(anyhow::anyhow!(
            "no handler registered for job kind {kind:?}"
        ))),
        Some(handler) => {
            let ctx = JobContext {
                job: job.clone(),
                shutdown: shared.job_shutdown.clone(),
            };
            let run = AssertUnwindSafe(handler.run(ctx).instrument(span.clone())).catch_unwind();
            tokio::select! {
                biased;
                outcome = run => outcome.unwrap_or_else(|panic| {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(ToString::to_string)
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "handler panicked".into());
                    Err(JobError::Retryable(anyhow::anyhow!("panic: {msg}")))
                }),
                () = lease_lost(shared.renewed.clone(), claimed_at, shared.lease_trust) => {
                    // The handler future is dropped here: it stops at its current await point.
                    // Its lease is (about to be) gone, so neither completion nor failure can be
                    // recorded; the lease sweep requeues the job and a later run converges.
                    span.in_scope(|| {
                        tracing::error!(
                            "the lease could not be renewed in time: the handler was stopped; the job runs again after the lease sweep"
                        );
                    });
                    lock(&shared.in_flight).remove(&lease.id);
                    shared.counters.lost.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("chom_jobs_total", "kind" => kind, "outcome" => "lost")
                        .increment(1);
                    return;
                }
            }
        }
    };
    metrics::histogram!("chom_job_duration_seconds", "kind" => kind.clone())
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(()) => {
            lock(&shared.in_flight).remove(&lease.id);
            metrics::counter!("chom_jobs_total", "kind" => kind, "outcome" => "succeeded")
                .increment(1);
            let _ = shared.done_tx.send(lease);
        }
        Err(error) => {
            if shared.job_shutdown.is_cancelled() {
                // Interrupted by shutdown: leave it in flight so it is released, not failed.
                return;
            }
            let dead = matches!(error, JobError::Permanent(_)) || job.attempt >= job.max_attempts;
            let retry_in = (!dead).then(|| shared.retry.delay(job.attempt));
            let message = error.to_string();
            span.in_scope(|| {
                tracing::warn!(error = %message, dead, retry_in_ms = retry_in.map(|d| d.as_millis()), "job failed");
            });
            match shared
                .queue
                .fail(&shared.worker, lease, &message, retry_in)
                .await
            {
                Ok(true) => {
                    let counter = if dead {
                        &shared.counters.dead
                    } else {
                        &shared.counters.retried
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let outcome = if dead { "dead" } else { "retried" };
                    metrics::counter!("chom_jobs_total", "kind" => kind, "outcome" => outcome)
                        .increment(1);
                }
                Ok(false) => {
                    tracing::warn!(job.id = %lease.id, "lease lost before the failure was recorded")
                }
                Err(e) => {
                    tracing::error!(job.id = %lease.id, error = %e, "could not record failure; the lease will expire")
                }
            }
            lock(&shared.in_flight).remove(&lease.id);
        }
    }
}

async fn complete_loop(
    queue: Arc<dyn JobQueue>,
    worker: WorkerId,
    counters: Arc<Counters>,
    mut rx: mpsc::UnboundedReceiver<LeaseRef>,
) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        let mut tries = 0u32;
        loop {
            match queue.complete(&worker, &batch).await {
                Ok(n) => {
                    counters.done.fetch_add(n, Ordering::Relaxed);
                    if (n as usize) < batch.len() {
                        tracing::warn!(
                            lost = batch.len() - n as usize,
                            "some leases were lost before completion"
                        );
                    }
                    break;
                }
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e, tries, "completion failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100) * tries).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, jobs = batch.len(), "completion failed; jobs will run again after their lease");
                    break;
                }
            }
        }
        batch.clear();
    }
}

async fn heartbeat_loop(
    queue: Arc<dyn JobQueue>,
    worker: WorkerId,
    config: RunnerConfig,
    in_flight: InFlight,
    renewed: watch::Sender<Instant>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(config.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if lock(&in_flight).is_empty() {
            continue;
        }
        let started = Instant::now();
        match queue.heartbeat(&worker, config.lease).await {
            // Every lease this worker held when the statement ran now lasts `lease` from then.
            Ok(_) => {
                renewed.send_replace(started);
            }
            Err(e) => {
                metrics::counter!("chom_job_heartbeat_errors_total").increment(1);
                tracing::warn!(error = %e, "heartbeat failed; running jobs stop if their lease cannot be renewed in time");
            }
        }
    }
}

async fn rescue_loop(queue: Arc<dyn JobQueue>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match queue.rescue_expired().await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("chom_jobs_rescued_total").increment(n);
                tracing::warn!(
                    rescued = n,
                    "requeued jobs whose worker stopped heartbeating"
                );
            }
            Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
        }
    }
}
