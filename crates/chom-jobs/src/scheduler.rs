//! The scheduler: enqueues each periodic job's current window (see [`Schedule`]) on every tick.

use chom_kernel::jobs::{JobQueue, Schedule};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Enqueues the current occurrence of every schedule, every `tick`.
pub struct Scheduler {
    queue: Arc<dyn JobQueue>,
    schedules: Vec<Schedule>,
    tick: Duration,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("schedules", &self.schedules)
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over `schedules`.
    #[must_use]
    pub fn new(queue: Arc<dyn JobQueue>, schedules: Vec<Schedule>, tick: Duration) -> Self {
        Self {
            queue,
            schedules,
            tick,
        }
    }

    /// Enqueues the occurrences of the window containing `now`; returns how many were new.
    ///
    /// # Errors
    /// The queue could not be written.
    pub async fn tick_once(&self, now: OffsetDateTime) -> anyhow::Result<usize> {
        let mut created = 0;
        for schedule in &self.schedules {
            if self
                .queue
                .enqueue(schedule.occurrence(now))
                .await?
                .is_some()
            {
                created += 1;
                tracing::debug!(schedule = %schedule.name, "scheduled occurrence enqueued");
            }
        }
        Ok(created)
    }

    /// Ticks until cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.schedules.is_empty() {
            return;
        }
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.tick_once(OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %format!("{e:#}"), "scheduler tick failed");
            }
        }
    }
}
