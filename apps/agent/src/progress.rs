//! Progress lines (`chom_agent_protocol::progress`): written on stdout, before the answer, by
//! the long commands (`backup.create`, `backup.restore`) and by the backup writer to the agent
//! that runs it.

use chom_agent_protocol::Progress;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// At most one line per phase this often (and the phase's last one).
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// Writes `p` as one line on stdout (a line at a time, whatever thread writes).
pub(crate) fn report(p: &Progress) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", p.line());
    let _ = out.flush();
}

/// A phase that has begun, nothing done yet.
pub(crate) fn phase(name: &str, files_expected: Option<u64>) {
    report(&Progress {
        phase: name.to_owned(),
        files_expected,
        ..Progress::default()
    });
}

/// Counts what a phase dealt with, from any thread, and tells it at most every [`EVERY`].
pub(crate) struct Meter {
    phase: &'static str,
    files: AtomicU64,
    bytes: AtomicU64,
    files_expected: Option<u64>,
    last: Mutex<Option<Instant>>,
    out: fn(&Progress),
}

impl Meter {
    /// A meter of `phase` that tells `out`.
    pub(crate) fn new(
        phase: &'static str,
        files_expected: Option<u64>,
        out: fn(&Progress),
    ) -> Self {
        Self {
            phase,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            files_expected,
            last: Mutex::new(None),
            out,
        }
    }

    /// One more file.
    pub(crate) fn file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.tick();
    }

    /// `n` more bytes.
    pub(crate) fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.tick();
    }

    fn now(&self) -> Progress {
        Progress {
            phase: self.phase.to_owned(),
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            files_expected: self.files_expected,
        }
    }

    fn tick(&self) {
        // Another thread telling it now is as good.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= EVERY) {
            *last = Some(now);
            (self.out)(&self.now());
        }
    }

    /// Tells where the phase ended.
    pub(crate) fn finish(&self) {
        (self.out)(&self.now());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    static TOLD: Mutex<Vec<Progress>> = Mutex::new(Vec::new());

    fn keep(p: &Progress) {
        TOLD.lock().unwrap().push(p.clone());
    }

    /// The first count is told at once, the next ones at most every second, the end always.
    #[test]
    fn a_meter_tells_its_counts_at_most_every_second_and_at_its_end() {
        let m = Meter::new("files", Some(3), keep);
        m.file();
        m.bytes(10);
        m.file();
        m.bytes(5);
        m.finish();
        let told = TOLD.lock().unwrap().clone();
        assert_eq!(told.len(), 2, "{told:?}");
        assert_eq!((told[0].files, told[0].bytes), (1, 0));
        assert_eq!(
            told[1],
            Progress {
                phase: "files".into(),
                files: 2,
                bytes: 15,
                files_expected: Some(3),
            }
        );
    }
}
