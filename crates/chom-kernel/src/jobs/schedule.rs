//! A periodic job's windows. Time is cut into fixed windows (`every`, shifted by `offset`,
//! aligned to the Unix epoch); each window's occurrence is enqueued with the unique key
//! `schedule:<name>:<window start>`, so every replica may tick and the job still exists once.

use super::NewJob;
use std::time::Duration;
use time::OffsetDateTime;

/// A periodic job: "every 5 minutes", "daily at 03:00 UTC" (`every` 24 h, `offset` 3 h).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Name, part of the unique key.
    pub name: String,
    /// Job kind to enqueue.
    pub kind: String,
    /// Window length.
    pub every: Duration,
    /// Shift of the windows from the epoch.
    pub offset: Duration,
    /// Arguments.
    pub payload: serde_json::Value,
}

impl Schedule {
    /// A schedule of `kind` every `every`.
    #[must_use]
    pub fn every(name: impl Into<String>, kind: impl Into<String>, every: Duration) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            every: every.max(Duration::from_secs(1)),
            offset: Duration::ZERO,
            payload: serde_json::Value::Null,
        }
    }

    /// Shifts the windows (e.g. 3 h for "daily at 03:00").
    #[must_use]
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// The start of the window containing `now`.
    #[must_use]
    pub fn window_start(&self, now: OffsetDateTime) -> OffsetDateTime {
        let every = i128::try_from(self.every.as_millis())
            .unwrap_or(i128::MAX)
            .max(1);
        let offset = i128::try_from(self.offset.as_millis()).unwrap_or(0);
        let now_ms = now.unix_timestamp_nanos() / 1_000_000;
        let start_ms = (now_ms - offset).div_euclid(every) * every + offset;
        OffsetDateTime::from_unix_timestamp_nanos(start_ms * 1_000_000).unwrap_or(now)
    }

    /// The job of the window containing `now`.
    #[must_use]
    pub fn occurrence(&self, now: OffsetDateTime) -> NewJob {
        let start = self.window_start(now);
        NewJob::new(self.kind.clone(), self.payload.clone())
            .unique_key(format!(
                "schedule:{}:{}",
                self.name,
                start.unix_timestamp_nanos() / 1_000_000
            ))
            .run_at(start)
            .max_attempts(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn windows_align_to_the_epoch_plus_offset() {
        let daily_at_3 = Schedule::every("renew", "ssl::renew", Duration::from_secs(86_400))
            .offset(Duration::from_secs(3 * 3600));
        assert_eq!(
            daily_at_3.window_start(datetime!(2026-11-25 23:10 UTC)),
            datetime!(2026-11-25 03:00 UTC)
        );
        assert_eq!(
            daily_at_3.window_start(datetime!(2026-11-26 02:59 UTC)),
            datetime!(2026-11-25 03:00 UTC)
        );
        let five_min = Schedule::every("health", "infra::health", Duration::from_secs(300));
        let a = five_min.occurrence(datetime!(2026-11-25 23:10:01 UTC));
        let b = five_min.occurrence(datetime!(2026-11-25 23:14:59 UTC));
        let c = five_min.occurrence(datetime!(2026-11-25 23:15:00 UTC));
        assert_eq!(a.unique_key, b.unique_key);
        assert_ne!(a.unique_key, c.unique_key);
    }
}
