//! One job's run: its handler, stopped when its lease may have lapsed, and its outcome.

use super::*;

/// Resolves once the lease of a job claimed at `claimed_at` may have expired: `trust` after the
/// later of its claim and the start of the last successful heartbeat.
pub(super) async fn lease_lost(
    mut renewed: watch::Receiver<Instant>,
    claimed_at: Instant,
    trust: Duration,
) {
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

pub(super) async fn run_one(shared: &Shared, job: ClaimedJob, claimed_at: Instant) {
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
