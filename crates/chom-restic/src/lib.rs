#![doc = include_str!("../README.md")]

mod scratch;
mod verify;

pub use scratch::ScratchDatabase;

use async_trait::async_trait;
use chom_agent_protocol::backup::RepositoryAccess;
use chom_backup::ports::{RepositoryMaintenance, Verdict};
use std::time::Duration;
use tokio::process::Command;

/// restic on the control plane's host.
#[derive(Debug, Clone)]
pub struct ResticCli {
    timeout: Duration,
    scratch: Option<ScratchDatabase>,
}

impl ResticCli {
    /// restic, each run bounded by `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            scratch: None,
        }
    }

    /// Verifications also load each dump into a scratch database on `server`.
    #[must_use]
    pub fn with_scratch_database(mut self, server: ScratchDatabase) -> Self {
        self.scratch = Some(server);
        self
    }

    fn command(access: &RepositoryAccess, args: &[&str]) -> Command {
        let mut cmd = Command::new("restic");
        cmd.args(["--no-cache", "--json"])
            .args(args)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            )
            .env("HOME", "/nonexistent")
            .env("RESTIC_REPOSITORY", &access.location)
            .env("RESTIC_PASSWORD", &access.password)
            .envs(&access.environment)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, access: &RepositoryAccess, args: &[&str]) -> Result<String, String> {
        let mut cmd = Self::command(access, args);
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| format!("restic {}: timed out after {:?}", args[0], self.timeout))?
            .map_err(|e| format!("cannot run restic (is it installed?): {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(4).collect();
            Err(format!(
                "restic {}: {}",
                args[0],
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

#[async_trait]
impl RepositoryMaintenance for ResticCli {
    async fn forget(&self, access: &RepositoryAccess, backup_ids: &[String]) -> Result<(), String> {
        let listed = self.run(access, &["snapshots"]).await?;
        let snapshots: serde_json::Value =
            serde_json::from_str(listed.trim()).map_err(|e| format!("restic snapshots: {e}"))?;
        let wanted: Vec<String> = backup_ids
            .iter()
            .map(|b| chom_agent_protocol::backup::backup_tag(b))
            .collect();
        let ids: Vec<String> = snapshots
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["tags"].as_array().is_some_and(|tags| {
                    tags.iter()
                        .any(|t| t.as_str().is_some_and(|t| wanted.iter().any(|w| w == t)))
                })
            })
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut args = vec!["forget", "--prune"];
        args.extend(ids.iter().map(String::as_str));
        self.run(access, &args).await?;
        tracing::info!(
            snapshots = ids.len(),
            backups = backup_ids.len(),
            "snapshots forgotten and pruned"
        );
        Ok(())
    }
    async fn dump(
        &self,
        access: &RepositoryAccess,
        snapshot: &str,
    ) -> Result<chom_backup::ports::ByteStream, String> {
        let mut child = Self::command(access, &["dump", snapshot, "/"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run restic (is it installed?): {e}"))?;
        let stdout = child.stdout.take().ok_or("restic has no stdout")?;
        let timeout = self.timeout;
        // The child is polled to its end with the stream: a failed dump ends the stream with
        // an error (the client sees a broken transfer, never a short "complete" one).
        let stream = futures::stream::unfold(
            (Some((stdout, child)), vec![0u8; 1 << 16]),
            move |(state, mut buf)| async move {
                use tokio::io::AsyncReadExt as _;
                let (mut out, mut child) = state?;
                match out.read(&mut buf).await {
                    Ok(0) => match tokio::time::timeout(timeout, child.wait()).await {
                        Ok(Ok(status)) if status.success() => None,
                        Ok(Ok(status)) => {
                            Some((Err(format!("restic dump ended with {status}")), (None, buf)))
                        }
                        Ok(Err(e)) => Some((Err(e.to_string()), (None, buf))),
                        Err(_) => Some((Err("restic dump timed out".into()), (None, buf))),
                    },
                    Ok(n) => {
                        let chunk = buf[..n].to_vec();
                        Some((Ok(chunk), (Some((out, child)), buf)))
                    }
                    Err(e) => Some((Err(e.to_string()), (None, buf))),
                }
            },
        );
        Ok(Box::pin(stream))
    }

    async fn verify(
        &self,
        access: &RepositoryAccess,
        backup_id: &str,
        manifest_sha256: &str,
    ) -> Result<Verdict, String> {
        verify::run(self, access, backup_id, manifest_sha256).await
    }
}
