//! The runner's background loops: batched completion, heartbeats, the rescue sweep.

use super::*;

pub(super) async fn complete_loop(
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

pub(super) async fn heartbeat_loop(
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

pub(super) async fn rescue_loop(
    queue: Arc<dyn JobQueue>,
    every: Duration,
    stop: CancellationToken,
) {
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
