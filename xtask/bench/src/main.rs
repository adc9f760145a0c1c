#![doc = include_str!("../README.md")]

mod api;
mod audit;
mod backup;
mod login;
mod queue;
mod sites;
mod ssh;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn arg_str(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("queue") => {
            queue::run(
                arg(&args, "--jobs", 20_000),
                arg(&args, "--latency-jobs", 2_000),
                arg(&args, "--rate", 500),
            )
            .await
        }
        Some("api") => {
            let api_bin = arg_str(&args, "--api-bin")
                .ok_or_else(|| anyhow::anyhow!("--api-bin PATH is required"))?;
            api::run(
                &api_bin,
                arg(&args, "--seconds", 10),
                arg(&args, "--connections", 32),
            )
            .await
        }
        Some("login") => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let api_bin = arg_str(&args, "--api-bin")
                .ok_or_else(|| anyhow::anyhow!("--api-bin PATH is required"))?;
            login::run(&api_bin, arg(&args, "--seconds", 6)).await
        }
        Some("ssh") => {
            let dir = arg_str(&args, "--sshd-dir").unwrap_or_else(|| "/tmp/chom-sshd".into());
            let agent = arg_str(&args, "--agent-bin")
                .ok_or_else(|| anyhow::anyhow!("--agent-bin PATH is required"))?;
            ssh::run(
                std::path::Path::new(&dir),
                &agent,
                arg(&args, "--calls", 200),
            )
            .await
        }
        Some("sites") => {
            let agent = arg_str(&args, "--agent-bin")
                .ok_or_else(|| anyhow::anyhow!("--agent-bin PATH is required"))?;
            sites::run(
                std::path::Path::new(&agent),
                arg(&args, "--sites", 50),
                arg(&args, "--servers", 5),
                arg(&args, "--concurrency", 16),
            )
            .await
        }
        Some("audit") => {
            audit::run(
                arg(&args, "--sites", 1000),
                arg(&args, "--rounds", 5),
                arg(&args, "--concurrency", 8),
            )
            .await
        }
        Some("backup") => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let agent = arg_str(&args, "--agent-bin")
                .ok_or_else(|| anyhow::anyhow!("--agent-bin PATH is required"))?;
            backup::run(
                std::path::Path::new(&agent),
                arg(&args, "--megabytes", 1024),
            )
            .await
        }
        Some("backup-server") => {
            let root = arg_str(&args, "--root")
                .ok_or_else(|| anyhow::anyhow!("--root DIR is required"))?;
            backup::serve(std::path::Path::new(&root), arg(&args, "--port", 8000)).await
        }
        Some("backup-tree") => {
            let root = arg_str(&args, "--root")
                .ok_or_else(|| anyhow::anyhow!("--root DIR is required"))?;
            backup::tree(std::path::Path::new(&root), arg(&args, "--megabytes", 1024))
        }
        other => {
            anyhow::bail!(
                "unknown benchmark {other:?}; available: queue, api, ssh, sites, audit, backup, backup-server, backup-tree"
            )
        }
    }
}
