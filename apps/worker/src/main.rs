#![doc = include_str!("../README.md")]

use anyhow::Context as _;
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
    let scrapes = if settings.worker.metrics_listen.is_empty() {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&settings.worker.metrics_listen)
            .await
            .with_context(|| {
                format!(
                    "worker.metrics_listen: cannot listen on {}",
                    settings.worker.metrics_listen
                )
            })?;
        let addr = listener.local_addr()?;
        tracing::info!(metrics = %format!("http://{addr}/metrics"), "worker metrics served");
        Some(tokio::spawn(chom_runtime::telemetry::serve_metrics(
            listener,
            metrics,
            shutdown.clone(),
        )))
    };
    tracing::info!(database = services.store.backend(), "chom-worker started");
    let stats = chom_runtime::jobs::run_worker(services, settings, "worker", shutdown).await?;
    signals.abort();
    if let Some(scrapes) = scrapes {
        scrapes.abort();
    }
    tracing::info!(?stats, "chom-worker stopped");
    Ok(())
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
