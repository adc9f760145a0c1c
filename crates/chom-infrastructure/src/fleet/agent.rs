//! Agent commands: calling a server's agent (installing it, checking it answers, running its
//! read-only commands), with a host key mismatch recorded as the server's health.

use super::{Fleet, FleetError};
use crate::model::{Health, Vps};
use crate::ports::{GatewayError, OnProgress};
use chom_agent_protocol::answers::VersionAnswer;
use chom_agent_protocol::{Answer as _, Command, Request, Response};
use chom_kernel::VpsId;
use chom_kernel::audit::Actor;
use time::OffsetDateTime;

impl Fleet {
    pub(super) async fn call(
        &self,
        vps: &Vps,
        command: Command,
    ) -> Result<serde_json::Value, FleetError> {
        self.call_telling(vps, command, &|_| {}).await
    }

    async fn call_telling(
        &self,
        vps: &Vps,
        command: Command,
        on_progress: OnProgress<'_>,
    ) -> Result<serde_json::Value, FleetError> {
        let request = Request::new(command);
        let response: Response = match self
            .gateway
            .call_with_progress(vps, &request, on_progress)
            .await
        {
            Ok(r) => r,
            Err(e @ GatewayError::HostKeyMismatch(_)) => {
                // Someone may be impersonating the server: say so loudly, and keep new sites
                // off it (placement takes only healthy or degraded servers) until re-pinned.
                tracing::error!(vps = %vps.id, hostname = %vps.hostname, error = %e, "host key mismatch");
                if let Err(store) = self
                    .repo
                    .record_health(
                        vps.id,
                        Health::Unhealthy,
                        Some(&e.to_string()),
                        OffsetDateTime::now_utc(),
                    )
                    .await
                {
                    tracing::warn!(vps = %vps.id, error = %store, "could not record the mismatch as the server's health");
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        match (response.ok, response.data, response.error) {
            (true, Some(data), _) => Ok(data),
            (_, _, Some(e)) if e.code == chom_agent_protocol::ErrorCode::Busy => {
                Err(FleetError::Busy(e.message))
            }
            (_, _, Some(e)) => Err(FleetError::Agent(format!(
                "{}: {}",
                e.code.wire(),
                e.message
            ))),
            _ => Err(FleetError::Agent("empty answer".into())),
        }
    }

    /// Checks that the agent answers (`version`); records the agent version.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    #[tracing::instrument(name = "fleet.test_connection", skip(self))]
    pub async fn test_connection(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        let version = self.call(&vps, Command::Version).await?;
        self.note_version(vps, &version).await?;
        Ok(version)
    }

    async fn note_version(
        &self,
        mut vps: Vps,
        version: &serde_json::Value,
    ) -> Result<(), FleetError> {
        let agent = VersionAnswer::read(version).ok().map(|v| v.agent);
        if agent != vps.agent_version {
            vps.agent_version = agent;
            self.save(&vps).await?;
        }
        Ok(())
    }

    /// Installs the agent and verifies it answers `version`.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    #[tracing::instrument(name = "fleet.bootstrap", skip(self))]
    pub async fn bootstrap(
        &self,
        actor: &Actor,
        id: VpsId,
    ) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        // Recorded before it starts: the install changes the server even if it fails half-way.
        let mut uow = self.store.begin().await?;
        self.audit(
            uow.as_mut(),
            actor,
            "vps.bootstrap",
            &vps,
            serde_json::json!({}),
        )
        .await?;
        uow.commit().await?;
        self.gateway.install_agent(&vps).await?;
        let version = self.call(&vps, Command::Version).await?;
        self.note_version(vps, &version).await?;
        Ok(version)
    }

    /// The sites the agent reports on the server (super admins only: never shown to tenants).
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn sites(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::SiteList).await
    }

    /// Runs one agent command on server `id` and returns its answer.
    ///
    /// # Errors
    /// `NotFound`, `Gateway` (transport), `Agent` (the agent refused).
    #[tracing::instrument(name = "fleet.run", skip(self, command), fields(command = command.name()))]
    pub async fn run(&self, id: VpsId, command: Command) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        self.call(&vps, command).await
    }

    /// [`Fleet::run`], telling `on_progress` how far the command got, as the agent says it
    /// (`backup.create`, `backup.restore`).
    ///
    /// # Errors
    /// As [`Fleet::run`].
    #[tracing::instrument(name = "fleet.run", skip(self, command, on_progress), fields(command = command.name()))]
    pub async fn run_telling(
        &self,
        id: VpsId,
        command: Command,
        on_progress: OnProgress<'_>,
    ) -> Result<serde_json::Value, FleetError> {
        let vps = self.get(id).await?;
        self.call_telling(&vps, command, on_progress).await
    }

    /// The agent's `stats` (uptime, processes, sites, network and disk counters).
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn stats(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::Stats).await
    }

    /// The agent's security self-audit.
    ///
    /// # Errors
    /// `NotFound`, `Gateway`, `Agent`.
    pub async fn security_audit(&self, id: VpsId) -> Result<serde_json::Value, FleetError> {
        self.run(id, Command::SecurityAudit).await
    }
}
