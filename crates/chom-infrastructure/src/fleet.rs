//! The fleet application service.
//!
//! The service, its constructor and the helpers its use cases share live here; each use case
//! has its own file.

mod agent;
mod error;
mod health;
mod host_key;
mod lifecycle;
mod queries;
mod registration;

pub use error::FleetError;
pub use host_key::TrustHostKey;
pub use registration::NewVps;

use crate::model::Vps;
use crate::ports::{AgentGateway, VpsRepository};
use chom_kernel::audit::{Actor, AuditEvent, AuditTrail};
use chom_kernel::store::{Store, UnitOfWork};
use chom_kernel::{Conflict, StoreError, UniqueKey};
use std::sync::Arc;

/// The fleet service.
#[derive(Clone)]
pub struct Fleet {
    store: Arc<dyn Store>,
    repo: Arc<dyn VpsRepository>,
    gateway: Arc<dyn AgentGateway>,
    audit: Arc<dyn AuditTrail>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fleet")
    }
}

fn conflict(e: StoreError) -> FleetError {
    match e {
        StoreError::Conflict(Conflict {
            key: Some(UniqueKey::VpsHostname),
            ..
        }) => FleetError::HostnameTaken,
        StoreError::NotFound => FleetError::NotFound,
        other => other.into(),
    }
}

impl Fleet {
    /// A service over its ports.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        repo: Arc<dyn VpsRepository>,
        gateway: Arc<dyn AgentGateway>,
        audit: Arc<dyn AuditTrail>,
    ) -> Self {
        Self {
            store,
            repo,
            gateway,
            audit,
        }
    }

    /// Saves a server changed by the control plane itself (its agent version).
    async fn save(&self, vps: &Vps) -> Result<(), FleetError> {
        let mut uow = self.store.begin().await?;
        self.repo
            .update_vps(uow.as_mut(), vps)
            .await
            .map_err(conflict)?;
        uow.commit().await?;
        Ok(())
    }

    /// Saves a server changed by `actor`, with the audit entry of `action`, together.
    async fn save_by(
        &self,
        actor: &Actor,
        action: &'static str,
        vps: &Vps,
        summary: serde_json::Value,
    ) -> Result<(), FleetError> {
        let mut uow = self.store.begin().await?;
        self.repo
            .update_vps(uow.as_mut(), vps)
            .await
            .map_err(conflict)?;
        self.audit(uow.as_mut(), actor, action, vps, summary)
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Appends the audit entry of `action` on `vps` (the operators' chain) to `uow`.
    async fn audit(
        &self,
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        action: &'static str,
        vps: &Vps,
        mut summary: serde_json::Value,
    ) -> Result<(), FleetError> {
        summary["hostname"] = serde_json::Value::String(vps.hostname.clone());
        let event = AuditEvent::new(actor, action, "vps", vps.id)
            .in_organization(None)
            .with_summary(summary);
        self.audit.append(uow, &event).await?;
        Ok(())
    }
}
