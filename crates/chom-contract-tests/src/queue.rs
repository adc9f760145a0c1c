//! The `JobQueue` + `UnitOfWork` contract, and the runner's guarantees on top of it.

use crate::Backend;
use chom_jobs::{JobError, Registry, Runner, RunnerConfig, Schedule, Scheduler};
use chom_kernel::jobs::{
    ClaimedJob, JobQueue, JobRecord, JobState, LeaseRef, NewJob, QueueCounts, RetryPolicy, Wakeup,
    WorkerId,
};
use chom_kernel::{JobId, StoreError};
use chom_tenancy::PlanCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const DEFAULT: &str = "default";

fn queues() -> Vec<String> {
    vec![DEFAULT.to_owned()]
}

fn fast_config() -> RunnerConfig {
    RunnerConfig {
        worker_prefix: "contract".into(),
        concurrency: 8,
        claim_batch: 32,
        lease: Duration::from_secs(5),
        heartbeat_every: Duration::from_millis(500),
        poll_interval: Duration::from_millis(50),
        rescue_every: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        },
        ..RunnerConfig::default()
    }
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(q: &Arc<dyn JobQueue>, id: JobId) -> JobState {
    q.get(id).await.unwrap().expect("job exists").state
}

fn spawn_runner(
    queue: Arc<dyn JobQueue>,
    registry: Registry,
    config: RunnerConfig,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<chom_jobs::RunStats>,
) {
    let stop = CancellationToken::new();
    let runner = Runner::new(queue, registry, config);
    let token = stop.clone();
    let handle = tokio::spawn(async move { runner.run(token).await.unwrap() });
    (stop, handle)
}

/// Enqueue inside a unit of work that rolls back (explicitly or by drop): no job exists.
pub async fn enqueue_in_a_rolled_back_unit_of_work_leaves_no_job(b: &Backend) {
    let q = &b.queues[0];
    let mut uow = b.store.begin().await.unwrap();
    let id = uow
        .enqueue(NewJob::new("test::noop", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    uow.rollback().await.unwrap();
    assert!(q.get(id).await.unwrap().is_none());

    let mut uow = b.store.begin().await.unwrap();
    let dropped = uow
        .enqueue(NewJob::new("test::noop", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    drop(uow);
    assert!(q.get(dropped).await.unwrap().is_none());
    assert_eq!(q.counts().await.unwrap().queued, 0);
    let claimed = q
        .claim(
            &WorkerId::generate("w"),
            &queues(),
            10,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a rolled-back job was claimed");

    let mut uow = b.store.begin().await.unwrap();
    let kept = uow
        .enqueue(NewJob::new("test::noop", serde_json::json!({"n": 1})))
        .await
        .unwrap()
        .unwrap();
    uow.commit().await.unwrap();
    let job = q.get(kept).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt, job.kind.as_str()),
        (JobState::Queued, 0, "test::noop")
    );
}

/// A repository write and the job it needs share the unit of work: both or neither.
pub async fn a_state_change_and_its_job_commit_or_vanish_together(b: &Backend) {
    let code = PlanCode::parse("starter").unwrap();
    let mut plan = b.plans.find(&code).await.unwrap().unwrap();
    plan.price_monthly_cents = 3900;

    let mut uow = b.store.begin().await.unwrap();
    b.plans.save(uow.as_mut(), &plan).await.unwrap();
    let job = uow
        .enqueue(NewJob::new(
            "billing::reprice",
            serde_json::json!({"plan": "starter"}),
        ))
        .await
        .unwrap()
        .unwrap();
    uow.rollback().await.unwrap();
    assert_eq!(
        b.plans
            .find(&code)
            .await
            .unwrap()
            .unwrap()
            .price_monthly_cents,
        2900
    );
    assert!(b.queues[0].get(job).await.unwrap().is_none());

    let mut uow = b.store.begin().await.unwrap();
    b.plans.save(uow.as_mut(), &plan).await.unwrap();
    let job = uow
        .enqueue(NewJob::new(
            "billing::reprice",
            serde_json::json!({"plan": "starter"}),
        ))
        .await
        .unwrap()
        .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        b.plans
            .find(&code)
            .await
            .unwrap()
            .unwrap()
            .price_monthly_cents,
        3900
    );
    assert_eq!(state_of(&b.queues[0], job).await, JobState::Queued);
}

/// A unique key admits one job, through the queue and through units of work alike.
pub async fn unique_keys_deduplicate_jobs(b: &Backend) {
    let q = &b.queues[0];
    let job = || NewJob::new("test::noop", serde_json::json!({})).unique_key("k-1");
    let first = q.enqueue(job()).await.unwrap();
    assert!(first.is_some());
    assert_eq!(q.enqueue(job()).await.unwrap(), None);
    let mut uow = b.store.begin().await.unwrap();
    assert_eq!(uow.enqueue(job()).await.unwrap(), None);
    uow.commit().await.unwrap();
    assert_eq!(q.counts().await.unwrap().queued, 1);
}

/// Only the holder of the current lease can complete or fail a job.
pub async fn completion_is_fenced_by_worker_and_attempt(b: &Backend) {
    let q = &b.queues[0];
    let id = q
        .enqueue(NewJob::new("test::noop", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let (a, other) = (WorkerId::generate("a"), WorkerId::generate("b"));
    let claimed = q
        .claim(&a, &queues(), 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let lease = claimed[0].lease();
    assert_eq!(lease.attempt, 1);
    assert_eq!(q.complete(&other, &[lease]).await.unwrap(), 0);
    assert!(!q.fail(&other, lease, "x", None).await.unwrap());
    let stale = chom_kernel::jobs::LeaseRef { id, attempt: 7 };
    assert_eq!(q.complete(&a, &[stale]).await.unwrap(), 0);
    assert_eq!(q.heartbeat(&a, Duration::from_secs(30)).await.unwrap(), 1);
    assert_eq!(q.complete(&a, &[lease]).await.unwrap(), 1);
    let rec = q.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Done);
    assert!(rec.finished_at.is_some());
    assert_eq!(
        q.complete(&a, &[lease]).await.unwrap(),
        0,
        "completed twice"
    );
}

/// A lease that is not extended expires; the sweep requeues the job, a new claim is attempt 2,
/// and the old holder can no longer complete it.
pub async fn an_expired_lease_is_rescued_and_the_job_runs_again(b: &Backend) {
    let q = &b.queues[0];
    let id = q
        .enqueue(NewJob::new("test::noop", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let (dead, alive) = (WorkerId::generate("dead"), WorkerId::generate("alive"));
    let first = q
        .claim(&dead, &queues(), 1, Duration::from_millis(150))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(q.rescue_expired().await.unwrap(), 0, "lease still valid");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(q.rescue_expired().await.unwrap(), 1);
    let rec = q.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Queued);
    assert!(rec.last_error.unwrap().contains("lease expired"));
    let second = q
        .claim(&alive, &queues(), 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 2);
    assert_eq!(q.complete(&dead, &[first[0].lease()]).await.unwrap(), 0);
    assert_eq!(q.complete(&alive, &[second[0].lease()]).await.unwrap(), 1);
}

/// A worker that claims and dies: a running runner rescues the job and runs it.
pub async fn a_dead_worker_loses_its_lease_and_a_live_runner_reruns_the_job(b: &Backend) {
    let id = b.queues[0]
        .enqueue(NewJob::new("test::record", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let crashed = WorkerId::generate("crashed");
    let taken = b.queues[0]
        .claim(&crashed, &queues(), 1, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);

    let runs = Arc::new(Mutex::new(Vec::new()));
    let seen = runs.clone();
    let registry = Registry::new().with_fn("test::record", move |ctx| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(ctx.job.attempt);
            Ok(())
        }
    });
    let (stop, handle) = spawn_runner(b.queues[1].clone(), registry, fast_config());
    wait_until(
        "the rescued job to finish",
        Duration::from_secs(15),
        || async { state_of(&b.queues[1], id).await == JobState::Done },
    )
    .await;
    stop.cancel();
    handle.await.unwrap();
    assert_eq!(*runs.lock().unwrap(), vec![2]);
}

/// A handler that keeps failing is retried with growing delays, then buried with its error.
pub async fn failures_retry_with_growing_delay_then_go_dead_with_the_error(b: &Backend) {
    let id = b.queues[0]
        .enqueue(NewJob::new("test::flaky", serde_json::json!({})).max_attempts(4))
        .await
        .unwrap()
        .unwrap();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let seen = starts.clone();
    let registry = Registry::new().with_fn("test::flaky", move |ctx| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((ctx.job.attempt, Instant::now()));
            Err(JobError::Retryable(anyhow::anyhow!(
                "upstream timed out on attempt {}",
                ctx.job.attempt
            )))
        }
    });
    let config = fast_config();
    let policy = config.retry;
    let (stop, handle) = spawn_runner(b.queues[0].clone(), registry, config);
    wait_until("the job to go dead", Duration::from_secs(20), || async {
        state_of(&b.queues[0], id).await == JobState::Dead
    })
    .await;
    stop.cancel();
    let stats = handle.await.unwrap();
    assert_eq!((stats.retried, stats.dead, stats.done), (3, 1, 0));

    let starts = starts.lock().unwrap().clone();
    assert_eq!(
        starts.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    for (i, gap) in gaps.iter().enumerate() {
        let attempt = i32::try_from(i + 1).unwrap();
        assert!(
            *gap >= policy.floor(attempt),
            "retry {attempt} came after {gap:?}, before its backoff"
        );
    }
    assert!(gaps[2] > gaps[0], "delays did not grow: {gaps:?}");
    let rec = b.queues[0].get(id).await.unwrap().unwrap();
    assert_eq!(rec.attempt, 4);
    assert_eq!(
        rec.last_error.as_deref(),
        Some("upstream timed out on attempt 4")
    );
    assert!(rec.finished_at.is_some());
}

/// `JobError::Permanent` and unknown kinds skip the retries.
pub async fn permanent_errors_bury_the_job_at_once(b: &Backend) {
    let q = &b.queues[0];
    let bad = q
        .enqueue(NewJob::new("test::bad_payload", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let unknown = q
        .enqueue(NewJob::new(
            "test::nobody_handles_this",
            serde_json::json!({}),
        ))
        .await
        .unwrap()
        .unwrap();
    let registry = Registry::new().with_fn("test::bad_payload", |_| async {
        Err(JobError::Permanent(anyhow::anyhow!(
            "payload misses site_id"
        )))
    });
    let (stop, handle) = spawn_runner(q.clone(), registry, fast_config());
    wait_until("both jobs dead", Duration::from_secs(10), || async {
        state_of(q, bad).await == JobState::Dead && state_of(q, unknown).await == JobState::Dead
    })
    .await;
    stop.cancel();
    handle.await.unwrap();
    let bad = q.get(bad).await.unwrap().unwrap();
    assert_eq!(
        (bad.attempt, bad.last_error.as_deref()),
        (1, Some("payload misses site_id"))
    );
    let unknown = q.get(unknown).await.unwrap().unwrap();
    assert!(unknown.last_error.unwrap().contains("no handler"));
}

/// Two runners on separate pools drain 1,000 jobs; every job runs exactly once.
pub async fn two_workers_drain_a_thousand_jobs_each_exactly_once(b: &Backend) {
    let mut ids = Vec::with_capacity(1000);
    for chunk in 0..10 {
        let mut uow = b.store.begin().await.unwrap();
        for i in 0..100 {
            let n = chunk * 100 + i;
            ids.push(
                uow.enqueue(NewJob::new("test::count", serde_json::json!({ "n": n })))
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        uow.commit().await.unwrap();
    }
    let runs: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
    let mut handles = Vec::new();
    for q in &b.queues {
        let seen = runs.clone();
        let registry = Registry::new().with_fn("test::count", move |ctx| {
            let seen = seen.clone();
            async move {
                *seen.lock().unwrap().entry(ctx.job.id).or_default() += 1;
                Ok(())
            }
        });
        handles.push(spawn_runner(q.clone(), registry, fast_config()));
    }
    wait_until("1,000 jobs done", Duration::from_secs(60), || async {
        b.queues[0].counts().await.unwrap().done == 1000
    })
    .await;
    let mut total = chom_jobs::RunStats::default();
    for (stop, handle) in handles {
        stop.cancel();
        let s = handle.await.unwrap();
        total.done += s.done;
    }
    assert_eq!(total.done, 1000);
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1000);
    for id in &ids {
        assert_eq!(
            runs.get(id),
            Some(&1),
            "job {id} ran {:?} times",
            runs.get(id)
        );
    }
    let counts = b.queues[0].counts().await.unwrap();
    assert_eq!((counts.queued, counts.running, counts.dead), (0, 0, 0));
}

/// Any number of schedulers ticking in one window create one job; the next window another.
pub async fn a_periodic_job_scheduled_twice_in_one_window_exists_once(b: &Backend) {
    let schedule = Schedule::every("health", "infra::health_check", Duration::from_secs(300));
    let s1 = Scheduler::new(
        b.queues[0].clone(),
        vec![schedule.clone()],
        Duration::from_secs(1),
    );
    let s2 = Scheduler::new(b.queues[1].clone(), vec![schedule], Duration::from_secs(1));
    let t = time::macros::datetime!(2026-11-25 23:10:00 UTC);
    let (a, c) = tokio::join!(s1.tick_once(t), s2.tick_once(t + Duration::from_secs(60)));
    assert_eq!(a.unwrap() + c.unwrap(), 1);
    assert_eq!(s1.tick_once(t + Duration::from_secs(120)).await.unwrap(), 0);
    assert_eq!(b.queues[0].counts().await.unwrap().queued, 1);
    assert_eq!(s2.tick_once(t + Duration::from_secs(300)).await.unwrap(), 1);
    assert_eq!(b.queues[0].counts().await.unwrap().queued, 2);
}

/// Shutdown with a job still running past the grace period: the job is released, not lost and
/// not charged an attempt, and another worker runs it.
pub async fn shutdown_during_a_job_releases_it_and_another_worker_runs_it(b: &Backend) {
    let id = b.queues[0]
        .enqueue(NewJob::new("test::slow", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = started.clone();
    let slow = Registry::new().with_fn("test::slow", move |_| {
        let signal = signal.clone();
        async move {
            signal.notify_one();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    });
    let config = RunnerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..fast_config()
    };
    let (stop, handle) = spawn_runner(b.queues[0].clone(), slow, config);
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("job started");
    assert_eq!(state_of(&b.queues[0], id).await, JobState::Running);
    stop.cancel();
    let stats = handle.await.unwrap();
    assert_eq!(stats.released, 1);
    let rec = b.queues[0].get(id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.attempt), (JobState::Queued, 0));

    let fast = Registry::new().with_fn("test::slow", |_| async { Ok(()) });
    let (stop, handle) = spawn_runner(b.queues[1].clone(), fast, fast_config());
    wait_until(
        "the released job to run",
        Duration::from_secs(10),
        || async { state_of(&b.queues[1], id).await == JobState::Done },
    )
    .await;
    stop.cancel();
    assert_eq!(handle.await.unwrap().done, 1);
}

/// Shutdown waits for a job that finishes within the grace period.
pub async fn shutdown_lets_a_short_job_finish(b: &Backend) {
    let id = b.queues[0]
        .enqueue(NewJob::new("test::short", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = started.clone();
    let registry = Registry::new().with_fn("test::short", move |_| {
        let signal = signal.clone();
        async move {
            signal.notify_one();
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        }
    });
    let (stop, handle) = spawn_runner(b.queues[0].clone(), registry, fast_config());
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("job started");
    stop.cancel();
    let stats = handle.await.unwrap();
    assert_eq!((stats.done, stats.released), (1, 0));
    assert_eq!(state_of(&b.queues[0], id).await, JobState::Done);
}

/// A job with a future `run_at` is not claimed before its time.
pub async fn delayed_jobs_wait_for_their_time(b: &Backend) {
    let q = &b.queues[0];
    let later = time::OffsetDateTime::now_utc() + Duration::from_millis(600);
    let id = q
        .enqueue(NewJob::new("test::noop", serde_json::json!({})).run_at(later))
        .await
        .unwrap()
        .unwrap();
    let w = WorkerId::generate("w");
    assert!(
        q.claim(&w, &queues(), 5, Duration::from_secs(5))
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = q
        .claim(&w, &queues(), 5, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
}

/// Pruning removes old finished jobs and keeps queued, running and recent ones.
pub async fn pruning_removes_only_old_finished_jobs(b: &Backend) {
    let q = &b.queues[0];
    let w = WorkerId::generate("w");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            q.enqueue(NewJob::new("test::noop", serde_json::json!({})))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let claimed = q
        .claim(&w, &queues(), 2, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(q.complete(&w, &[claimed[0].lease()]).await.unwrap(), 1);
    assert!(q.fail(&w, claimed[1].lease(), "boom", None).await.unwrap());
    assert_eq!(
        q.prune(Duration::from_secs(60), Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Done jobs older than 10 ms go; dead ones are kept longer.
    assert_eq!(
        q.prune(Duration::from_millis(10), Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert!(q.get(claimed[0].id).await.unwrap().is_none());
    assert_eq!(state_of(q, claimed[1].id).await, JobState::Dead);
    assert_eq!(
        q.prune(Duration::from_millis(10), Duration::from_millis(10))
            .await
            .unwrap(),
        1
    );
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.queued, counts.done, counts.dead), (1, 0, 0));
}

/// A queue whose heartbeats fail (the database is unreachable for this worker's heartbeats,
/// like during an outage); everything else goes to the real queue.
struct HeartbeatsFail(Arc<dyn JobQueue>);

#[async_trait::async_trait]
impl JobQueue for HeartbeatsFail {
    async fn enqueue(&self, job: NewJob) -> Result<Option<JobId>, StoreError> {
        self.0.enqueue(job).await
    }
    async fn claim(
        &self,
        worker: &WorkerId,
        queues: &[String],
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.0.claim(worker, queues, limit, lease).await
    }
    async fn heartbeat(&self, _: &WorkerId, _: Duration) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "connection refused (simulated outage)"
        )))
    }
    async fn complete(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        self.0.complete(worker, jobs).await
    }
    async fn fail(
        &self,
        worker: &WorkerId,
        job: LeaseRef,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.fail(worker, job, error, retry_in).await
    }
    async fn release(&self, worker: &WorkerId, jobs: &[LeaseRef]) -> Result<u64, StoreError> {
        self.0.release(worker, jobs).await
    }
    async fn rescue_expired(&self) -> Result<u64, StoreError> {
        self.0.rescue_expired().await
    }
    async fn get(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        self.0.get(id).await
    }
    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        self.0.counts().await
    }
    async fn prune(&self, done_before: Duration, dead_before: Duration) -> Result<u64, StoreError> {
        self.0.prune(done_before, dead_before).await
    }
    async fn wakeup(&self) -> Result<Box<dyn Wakeup>, StoreError> {
        self.0.wakeup().await
    }
}

/// L12: a worker that cannot renew its lease stops the handler before the lease expires, so
/// the run the lease sweep starts elsewhere never overlaps it. (Before, the heartbeat loop
/// only logged its failures: the first run went on while the rescued one ran.)
pub async fn l12_a_handler_stops_when_its_lease_cannot_be_renewed(b: &Backend) {
    #[derive(Default)]
    struct Runs {
        running: u32,
        most_at_once: u32,
        /// (attempt, finished normally) per run that ended.
        ended: Vec<(i32, bool)>,
    }
    /// Counts a run out when its future ends or is dropped.
    struct Running(Arc<Mutex<Runs>>, i32, bool);
    impl Drop for Running {
        fn drop(&mut self) {
            let mut r = self.0.lock().unwrap();
            r.running -= 1;
            r.ended.push((self.1, self.2));
        }
    }
    let id = b.queues[0]
        .enqueue(NewJob::new("test::long", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    let runs = Arc::new(Mutex::new(Runs::default()));
    let registry = {
        let runs = runs.clone();
        Registry::new().with_fn("test::long", move |ctx| {
            let runs = runs.clone();
            async move {
                {
                    let mut r = runs.lock().unwrap();
                    r.running += 1;
                    r.most_at_once = r.most_at_once.max(r.running);
                }
                let mut guard = Running(runs, ctx.job.attempt, false);
                // The first run would take an hour; the rescued one is quick.
                let work = if ctx.job.attempt == 1 { 3_600_000 } else { 200 };
                tokio::time::sleep(Duration::from_millis(work)).await;
                guard.2 = true;
                Ok(())
            }
        })
    };
    let config = RunnerConfig {
        lease: Duration::from_secs(2),
        heartbeat_every: Duration::from_millis(300),
        shutdown_grace: Duration::from_millis(200),
        ..fast_config()
    };
    let outage: Arc<dyn JobQueue> = Arc::new(HeartbeatsFail(b.queues[0].clone()));
    let (stop_a, handle_a) = spawn_runner(outage, registry.clone(), config.clone());
    wait_until("the first run", Duration::from_secs(10), || async {
        runs.lock().unwrap().most_at_once == 1
    })
    .await;
    let started = Instant::now();
    let (stop_b, handle_b) = spawn_runner(b.queues[1].clone(), registry, config);
    wait_until(
        "the rescued job to finish",
        Duration::from_secs(20),
        || async { state_of(&b.queues[1], id).await == JobState::Done },
    )
    .await;
    stop_a.cancel();
    stop_b.cancel();
    let (a, _) = (handle_a.await.unwrap(), handle_b.await.unwrap());
    {
        let r = runs.lock().unwrap();
        assert_eq!(r.most_at_once, 1, "two runs of one job overlapped");
        assert_eq!(
            r.ended,
            vec![(1, false), (2, true)],
            "the first run was stopped"
        );
    }
    assert_eq!(a.lost, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    let rec = b.queues[0].get(id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.attempt), (JobState::Done, 2));
}
