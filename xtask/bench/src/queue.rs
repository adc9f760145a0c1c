//! Job queue: drain throughput and enqueue→start latency, SQLite and PostgreSQL side by side.

use chom_jobs::{Registry, Runner, RunnerConfig};
use chom_kernel::jobs::{JobQueue, NewJob};
use chom_kernel::store::Store;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    queues: Vec<Arc<dyn JobQueue>>,
    _guard: Box<dyn std::any::Any>,
}

async fn sqlite() -> anyhow::Result<Backend> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let a = chom_sqlite::SqliteStore::open(&path, 8).await?;
    a.migrate().await?;
    let b = chom_sqlite::SqliteStore::open(&path, 8).await?;
    Ok(Backend {
        name: "SQLite",
        store: Arc::new(a.clone()),
        queues: vec![Arc::new(a.queue()), Arc::new(b.queue())],
        _guard: Box::new(dir),
    })
}

async fn postgres() -> anyhow::Result<Backend> {
    let db = chom_postgres::testing::TestDatabase::new().await?;
    let b = chom_postgres::PgStore::connect(&db.url, 16).await?;
    Ok(Backend {
        name: "PostgreSQL",
        store: Arc::new(db.store.clone()),
        queues: vec![Arc::new(db.store.queue()), Arc::new(b.queue())],
        _guard: Box::new(db),
    })
}

fn config() -> RunnerConfig {
    RunnerConfig {
        worker_prefix: "bench".into(),
        concurrency: 64,
        claim_batch: 128,
        poll_interval: Duration::from_millis(200),
        ..RunnerConfig::default()
    }
}

struct Figures {
    jobs_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn enqueue_bulk(store: &Arc<dyn Store>, n: usize) -> anyhow::Result<()> {
    for chunk in 0..n.div_ceil(1000) {
        let mut uow = store.begin().await?;
        for i in 0..1000.min(n - chunk * 1000) {
            uow.enqueue(NewJob::new("bench::noop", serde_json::json!({ "i": i })))
                .await?;
        }
        uow.commit().await?;
    }
    Ok(())
}

fn start_runners(
    queues: &[Arc<dyn JobQueue>],
    registry: &Registry,
) -> (
    CancellationToken,
    Vec<tokio::task::JoinHandle<anyhow::Result<chom_jobs::RunStats>>>,
) {
    let stop = CancellationToken::new();
    let handles = queues
        .iter()
        .map(|q| tokio::spawn(Runner::new(q.clone(), registry.clone(), config()).run(stop.clone())))
        .collect();
    (stop, handles)
}

async fn measure(
    b: &Backend,
    throughput_jobs: usize,
    latency_jobs: usize,
    rate: u32,
) -> anyhow::Result<Figures> {
    // 1. Throughput: drain a backlog of no-op jobs with two workers.
    enqueue_bulk(&b.store, throughput_jobs).await?;
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let registry = Registry::new().with_fn("bench::noop", move |_| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    });
    let started = Instant::now();
    let (stop, handles) = start_runners(&b.queues, &registry);
    while done.load(Ordering::Relaxed) < throughput_jobs as u64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    for h in handles {
        h.await??;
    }
    let counts = b.queues[0].counts().await?;
    anyhow::ensure!(
        counts.done as usize == throughput_jobs,
        "not all jobs acknowledged: {counts:?}"
    );

    // 2. Latency: enqueue one job per transaction at a steady rate into idle workers.
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let seen = Arc::new(AtomicU64::new(0));
    let (h2, s2) = (hist.clone(), seen.clone());
    let registry = Registry::new().with_fn("bench::latency", move |ctx| {
        let (hist, seen) = (h2.clone(), s2.clone());
        async move {
            let waited = time::OffsetDateTime::now_utc() - ctx.job.created_at;
            let us = u64::try_from(waited.whole_microseconds().max(0)).unwrap_or(u64::MAX);
            if let Ok(mut h) = hist.lock() {
                let _ = h.record(us);
            }
            seen.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    });
    let (stop, handles) = start_runners(&b.queues, &registry);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    for i in 0..latency_jobs {
        tick.tick().await;
        let mut uow = b.store.begin().await?;
        uow.enqueue(NewJob::new("bench::latency", serde_json::json!({ "i": i })))
            .await?;
        uow.commit().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::Relaxed) < latency_jobs as u64 {
        anyhow::ensure!(Instant::now() < deadline, "latency jobs did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    for h in handles {
        h.await??;
    }
    let h = hist
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?;
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let ms = |us: u64| us as f64 / 1000.0;
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let jobs_per_sec = throughput_jobs as f64 / elapsed.as_secs_f64();
    Ok(Figures {
        jobs_per_sec,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    })
}

pub async fn run(jobs: usize, latency_jobs: usize, rate: u32) -> anyhow::Result<()> {
    println!("job queue: {jobs} no-op jobs drained by 2 workers (64 concurrent each);");
    println!(
        "           then {latency_jobs} jobs enqueued one per transaction at {rate}/s into idle workers\n"
    );
    let mut rows = Vec::new();
    for backend in [sqlite().await?, postgres().await?] {
        eprintln!("running {} …", backend.name);
        rows.push((
            backend.name,
            measure(&backend, jobs, latency_jobs, rate).await?,
        ));
    }
    println!("| backend    | jobs/s (drain) | enqueue→start p50 | p99       | max       |");
    println!("|------------|---------------:|------------------:|----------:|----------:|");
    for (name, f) in rows {
        println!(
            "| {name:<10} | {:>14.0} | {:>14.2} ms | {:>6.2} ms | {:>6.2} ms |",
            f.jobs_per_sec, f.p50_ms, f.p99_ms, f.max_ms
        );
    }
    Ok(())
}
