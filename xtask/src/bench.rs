//! `cargo xtask bench <name>`: builds the benchmark binary in release and runs it, after making
//! sure the services it needs are up.

use clap::Subcommand;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum Which {
    /// Job queue: jobs/s and enqueue→start latency (p50/p99), SQLite and PostgreSQL side by side.
    Queue {
        /// Backlog drained for the throughput figure.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Jobs enqueued one by one for the latency figure.
        #[arg(long, default_value_t = 2_000)]
        latency_jobs: usize,
        /// Enqueue rate for the latency figure, jobs/s.
        #[arg(long, default_value_t = 500)]
        rate: u32,
    },
}

/// Runs a benchmark.
///
/// # Errors
/// Services are missing or the benchmark failed.
pub fn run(which: Which) -> anyhow::Result<()> {
    crate::services::ensure_core()?;
    match which {
        Which::Queue {
            jobs,
            latency_jobs,
            rate,
        } => crate::util::cargo(&[
            "run",
            "--release",
            "--quiet",
            "--package",
            "chom-bench",
            "--",
            "queue",
            "--jobs",
            &jobs.to_string(),
            "--latency-jobs",
            &latency_jobs.to_string(),
            "--rate",
            &rate.to_string(),
        ]),
    }
}
