//! The fleet's `AgentGateway` port on this transport.

use crate::settings::GatewaySettings;
use crate::{AgentTransport, Endpoint, SshError, SshSettings};
use async_trait::async_trait;
use chom_agent_protocol::{Request, Response};
use chom_infrastructure::{AgentGateway, GatewayError, OnProgress, Vps};
use std::path::PathBuf;
use std::time::Duration;

/// SSH to the servers, one multiplexed master each.
pub struct SshGateway {
    transport: AgentTransport,
    agent_binary: PathBuf,
    backup_timeout: Duration,
}

impl std::fmt::Debug for SshGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshGateway")
            .field("agent_binary", &self.agent_binary)
            .finish_non_exhaustive()
    }
}

impl SshGateway {
    /// A gateway from the settings. The key pair must exist (the composition root creates it
    /// on first start).
    #[must_use]
    pub fn new(config: &GatewaySettings) -> Self {
        let agent_binary = config.agent_binary.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("chom-agent")))
                .unwrap_or_else(|| PathBuf::from("chom-agent"))
        });
        Self {
            transport: AgentTransport::new(SshSettings {
                key_file: config.key_file.clone(),
                state_dir: config.state_dir.clone(),
                connect_timeout: Duration::from_secs(config.connect_timeout_secs),
                command_timeout: Duration::from_secs(config.command_timeout_secs),
                agent_path: config.agent_path.clone(),
                agent_args: config.agent_args.clone(),
                sudo: config.sudo,
            }),
            agent_binary,
            backup_timeout: Duration::from_secs(config.backup_timeout_secs),
        }
    }

    fn endpoint(vps: &Vps) -> Result<Endpoint, GatewayError> {
        Ok(Endpoint {
            host: vps.ip_address.clone(),
            port: vps.ssh_port,
            user: vps.ssh_user.clone(),
            host_key: vps
                .host_key
                .clone()
                .ok_or(GatewayError::HostKeyNotTrusted)?,
        })
    }
}

fn map(e: SshError) -> GatewayError {
    match e {
        SshError::HostKeyMismatch(w) => GatewayError::HostKeyMismatch(w),
        e @ (SshError::Unreachable(..) | SshError::Timeout(_) | SshError::CircuitOpen(_)) => {
            GatewayError::Unreachable(e.to_string())
        }
        e @ (SshError::BadAnswer(_) | SshError::Io(_)) => GatewayError::BadAnswer(e.to_string()),
    }
}

#[async_trait]
impl AgentGateway for SshGateway {
    #[tracing::instrument(name = "ssh.scan_host_key", skip_all, fields(vps = %vps.hostname))]
    async fn scan_host_key(&self, vps: &Vps) -> Result<String, GatewayError> {
        self.transport
            .scan_host_key(&vps.ip_address, vps.ssh_port)
            .await
            .map_err(map)
    }

    async fn call(&self, vps: &Vps, request: &Request) -> Result<Response, GatewayError> {
        self.call_with_progress(vps, request, &|_| {}).await
    }

    #[tracing::instrument(
        name = "ssh.agent_call",
        skip_all,
        fields(vps = %vps.hostname, command = request.command.name())
    )]
    async fn call_with_progress(
        &self,
        vps: &Vps,
        request: &Request,
        on_progress: OnProgress<'_>,
    ) -> Result<Response, GatewayError> {
        let ep = Self::endpoint(vps)?;
        // Backups and restores read or write a whole site: their own, longer, bound.
        let timeout = matches!(
            request.command,
            chom_agent_protocol::Command::BackupCreate(_)
                | chom_agent_protocol::Command::BackupRestore(_)
        )
        .then_some(self.backup_timeout);
        let result = self
            .transport
            .call_with_progress(&ep, request, timeout, on_progress)
            .await
            .map_err(map);
        if let Err(GatewayError::HostKeyMismatch(_)) = &result {
            metrics::counter!("chom_ssh_host_key_mismatch_total", "vps" => vps.hostname.clone())
                .increment(1);
        }
        result
    }

    #[tracing::instrument(name = "ssh.install_agent", skip_all, fields(vps = %vps.hostname))]
    async fn install_agent(&self, vps: &Vps) -> Result<(), GatewayError> {
        let ep = Self::endpoint(vps)?;
        let binary = std::fs::read(&self.agent_binary).map_err(|e| {
            GatewayError::BadAnswer(format!(
                "cannot read the agent binary {}: {e}",
                self.agent_binary.display()
            ))
        })?;
        self.transport
            .install_agent(&ep, &binary)
            .await
            .map_err(map)
    }
}
