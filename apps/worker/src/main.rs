#![doc = include_str!("../README.md")]

use chom_runtime::{Services, Settings};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// CHOM background worker. Reads the same configuration as chom-api (chom.toml, CHOM_* variables).
#[derive(Debug, Parser)]
#[command(name = "chom-worker", version, about, long_about)]
struct Cli {
    /// Configuration file (TOML). Default: ./chom.toml if it exists.
    #[arg(long, short = 'c', env = "CHOM_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chom-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chom-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chom-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut settings: Settings) -> anyhow::Result<()> {
    chom_runtime::telemetry::init_logging(&settings.log);
    let metrics = chom_runtime::telemetry::prometheus()?;
    // No request waits on this process: a job may wait longer for a connection than a request.
    settings.database.acquire_timeout_ms = settings.database.acquire_timeout_ms.max(5000);
    let services = Services::from_settings(&settings).await?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    let scrapes = serve_metrics(&settings.worker.metrics_listen, metrics, &shutdown).await;
    tracing::info!(database = services.store.backend(), "chom-worker started");
    let stats = chom_runtime::jobs::run_worker(services, settings, "worker", shutdown).await?;
    signals.abort();
    if let Some(scrapes) = scrapes {
        scrapes.abort();
    }
    tracing::info!(?stats, "chom-worker stopped");
    Ok(())
}

/// Starts the worker's `/metrics` listener. Jobs matter more than their metrics: a port that
/// is taken (another worker on this host with the same setting) is logged, not fatal.
async fn serve_metrics(
    listen: &str,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if listen.is_empty() {
        return None;
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                error = %e,
                listen,
                "worker.metrics_listen: cannot listen; running without /metrics (give each worker on a host its own port)"
            );
            return None;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |a| a.to_string());
    tracing::info!(metrics = %format!("http://{addr}/metrics"), "worker metrics served");
    Some(tokio::spawn(chom_runtime::telemetry::serve_metrics(
        listener,
        metrics,
        shutdown.clone(),
    )))
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
