//! `cargo xtask bench <name>`: builds the benchmark binary in release and runs it, after making
//! sure the services it needs are up.

use clap::Subcommand;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum Which {
    /// API: `GET /api/v1/auth/me` through the release binary and wrk, vs pgbench running the
    /// same token-lookup query on the same PostgreSQL database.
    Api {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Concurrent connections (wrk and pgbench alike).
        #[arg(long, default_value_t = 32)]
        connections: u32,
    },
    /// Login flood: `/health/live` p50/p99 while 16 clients log in, and the API's resident
    /// memory fresh and after 200 more logins; password hashing on the request threads (the
    /// baseline) vs on the blocking pool in reused memory (the default).
    Login {
        /// Seconds of flood.
        #[arg(long, default_value_t = 6)]
        seconds: u32,
    },
    /// SSH: `chom-agent version` over the multiplexed transport vs a raw multiplexed `ssh … true`
    /// (on the development sshd, 127.0.0.1:2222).
    Ssh {
        /// Sequential calls per measurement.
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
    /// Sites: time to provision N sites on M loopback servers (one sshd each, the release agent
    /// in a sandbox) through the sites service and the worker on PostgreSQL, vs the sum of the
    /// agent's own work for the same sites.
    Sites {
        /// Sites to provision.
        #[arg(long, default_value_t = 50)]
        sites: usize,
        /// Loopback servers.
        #[arg(long, default_value_t = 5)]
        servers: usize,
    },
    /// Audit: site-update throughput through the sites service on PostgreSQL with the audit
    /// trail vs the same service wired without one, rounds interleaved in one run.
    Audit {
        /// Sites updated per round.
        #[arg(long, default_value_t = 1000)]
        sites: usize,
        /// Rounds per variant.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Backups: the release agent's first and second (1 % of the files changed) backup of a
    /// generated site tree into `chom-restic-server`, and its restore, vs `tar | zstd -3` and
    /// `zstd -d | tar -x` of the same tree, in one run.
    Backup {
        /// Size of the generated tree, MiB.
        #[arg(long, default_value_t = 1024)]
        megabytes: u64,
    },
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

/// Builds `packages` in release; returns the directory of the release binaries (under
/// `CARGO_TARGET_DIR` when set).
fn release(packages: &[&str]) -> anyhow::Result<std::path::PathBuf> {
    let mut args = vec!["build", "--release", "--quiet"];
    for p in packages {
        args.extend(["--package", p]);
    }
    crate::util::cargo(&args)?;
    Ok(crate::util::target_dir()?.join("release"))
}

/// Runs a benchmark.
///
/// # Errors
/// Services are missing or the benchmark failed.
pub fn run(which: Which) -> anyhow::Result<()> {
    crate::services::ensure_core()?;
    match which {
        Which::Ssh { calls } => {
            crate::services::ensure()?;
            let bin = release(&["chom-agent", "chom-bench"])?;
            let status = std::process::Command::new(bin.join("chom-bench"))
                .args(["ssh", "--agent-bin"])
                .arg(bin.join("chom-agent"))
                .args(["--calls", &calls.to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "the SSH benchmark failed");
            Ok(())
        }
        Which::Sites { sites, servers } => {
            crate::services::ensure()?;
            let bin = release(&["chom-agent", "chom-bench"])?;
            // One job at a time (the cost of one provisioning), then the worker's default.
            for concurrency in [1, 16] {
                let status = std::process::Command::new(bin.join("chom-bench"))
                    .args(["sites", "--agent-bin"])
                    .arg(bin.join("chom-agent"))
                    .args([
                        "--sites",
                        &sites.to_string(),
                        "--servers",
                        &servers.to_string(),
                        "--concurrency",
                        &concurrency.to_string(),
                    ])
                    .status()?;
                anyhow::ensure!(status.success(), "the sites benchmark failed");
            }
            Ok(())
        }
        Which::Backup { megabytes } => {
            crate::services::ensure()?;
            let bin = release(&["chom-agent", "chom-bench"])?;
            let status = std::process::Command::new(bin.join("chom-bench"))
                .args(["backup", "--agent-bin"])
                .arg(bin.join("chom-agent"))
                .args(["--megabytes", &megabytes.to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "the backup benchmark failed");
            Ok(())
        }
        Which::Audit { sites, rounds } => {
            let bin = release(&["chom-bench"])?;
            let status = std::process::Command::new(bin.join("chom-bench"))
                .args([
                    "audit",
                    "--sites",
                    &sites.to_string(),
                    "--rounds",
                    &rounds.to_string(),
                ])
                .status()?;
            anyhow::ensure!(status.success(), "the audit benchmark failed");
            Ok(())
        }
        Which::Login { seconds } => {
            let bin = release(&["chom-api", "chom-bench"])?;
            let status = std::process::Command::new(bin.join("chom-bench"))
                .args(["login", "--api-bin"])
                .arg(bin.join("chom-api"))
                .args(["--seconds", &seconds.to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "the login benchmark failed");
            Ok(())
        }
        Which::Api {
            seconds,
            connections,
        } => {
            if !crate::util::succeeds("wrk", &["--version"])
                && !crate::util::succeeds("which", &["wrk"])
            {
                crate::services::apt_install(&["wrk"], "the API benchmark drives load with wrk")?;
            }
            let bin = release(&["chom-api", "chom-bench"])?;
            let api = bin.join("chom-api");
            let status = std::process::Command::new(bin.join("chom-bench"))
                .args(["api", "--api-bin"])
                .arg(api)
                .args([
                    "--seconds",
                    &seconds.to_string(),
                    "--connections",
                    &connections.to_string(),
                ])
                .status()?;
            anyhow::ensure!(status.success(), "the API benchmark failed");
            Ok(())
        }
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
