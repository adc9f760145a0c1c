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
use chom_kernel::store::Store;
use chom_kernel::{Conflict, StoreError, UniqueKey};
use std::sync::Arc;

/// The fleet service.
#[derive(Clone)]
pub struct Fleet {
    store: Arc<dyn Store>,
    repo: Arc<dyn VpsRepository>,
    gateway: Arc<dyn AgentGateway>,
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
    ) -> Self {
        Self {
            store,
            repo,
            gateway,
        }
    }

    async fn save(&self, vps: &Vps) -> Result<(), FleetError> {
        let mut uow = self.store.begin().await?;
        self.repo
            .update_vps(uow.as_mut(), vps)
            .await
            .map_err(conflict)?;
        uow.commit().await?;
        Ok(())
    }
}
