//! Health checks: asking an agent for its health and recording the verdict, one server or the
//! whole fleet.

use super::{Fleet, FleetError};
use crate::model::{Health, VpsStatus};
use crate::ports::GatewayError;
use chom_agent_protocol::answers::HealthAnswer;
use chom_agent_protocol::{Answer as _, Command};
use chom_kernel::VpsId;
use time::OffsetDateTime;

impl Fleet {
    /// Runs the agent's health check and records the verdict: `healthy` when nothing is wrong,
    /// `degraded` with the issues, `unhealthy` for a changed key or a broken agent,
    /// `unreachable` when SSH fails.
    ///
    /// # Errors
    /// `NotFound`, `Store` (gateway failures are verdicts, not errors).
    #[tracing::instrument(name = "fleet.check_health", skip(self))]
    pub async fn check_health(
        &self,
        id: VpsId,
    ) -> Result<(Health, Option<String>, Option<serde_json::Value>), FleetError> {
        let vps = self.get(id).await?;
        let (health, reason, report) = match self.call(&vps, Command::Health).await {
            Ok(report) => match HealthAnswer::read(&report) {
                Ok(answer) if answer.issues.is_empty() => (Health::Healthy, None, Some(report)),
                Ok(answer) => (
                    Health::Degraded,
                    Some(answer.issues.join("; ")),
                    Some(report),
                ),
                // A report the control plane cannot read is not a clean bill of health.
                Err(bad) => (Health::Degraded, Some(bad.to_string()), Some(report)),
            },
            Err(FleetError::Gateway(GatewayError::Unreachable(why))) => {
                (Health::Unreachable, Some(why), None)
            }
            Err(FleetError::Gateway(e)) => (Health::Unhealthy, Some(e.to_string()), None),
            Err(FleetError::Agent(why)) => (Health::Unhealthy, Some(why), None),
            Err(other) => return Err(other),
        };
        self.repo
            .record_health(id, health, reason.as_deref(), OffsetDateTime::now_utc())
            .await?;
        Ok((health, reason, report))
    }

    /// Checks every server in service (the periodic job). Returns how many were checked.
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "fleet.check_all", skip_all)]
    pub async fn check_all(&self) -> Result<usize, FleetError> {
        let mut n = 0;
        for vps in self.list().await? {
            if vps.status != VpsStatus::Decommissioned {
                self.check_health(vps.id).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}
