//! The jobs of this context: the fleet health sweep and its schedule.

use crate::fleet::Fleet;
use chom_kernel::jobs::{JobError, Registration, Schedule};
use std::time::Duration;

/// Checks every server's health and records the verdicts.
pub const FLEET_HEALTH: &str = "infrastructure::health_check_all";

/// Every handler of this context.
#[must_use]
pub fn jobs(fleet: &Fleet) -> Vec<Registration> {
    let fleet = fleet.clone();
    vec![Registration::periodic(FLEET_HEALTH, move || {
        let fleet = fleet.clone();
        async move {
            let checked = fleet
                .check_all()
                .await
                .map_err(|e| JobError::Retryable(anyhow::anyhow!("{e}")))?;
            tracing::info!(checked, "fleet health checked");
            Ok(())
        }
    })]
}

/// The health sweep, every 5 minutes (an unreachable server is marked so within one window).
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    vec![Schedule::every(
        "fleet-health",
        FLEET_HEALTH,
        Duration::from_secs(300),
    )]
}
