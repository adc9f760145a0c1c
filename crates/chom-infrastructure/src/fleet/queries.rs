//! Queries: reading one server, every server, or a page of them.

use super::{Fleet, FleetError};
use crate::model::Vps;
use chom_kernel::VpsId;

impl Fleet {
    /// One server.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn get(&self, id: VpsId) -> Result<Vps, FleetError> {
        self.repo.get_vps(id).await?.ok_or(FleetError::NotFound)
    }

    /// Every server.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list(&self) -> Result<Vec<Vps>, FleetError> {
        Ok(self.repo.list_vps().await?)
    }

    /// A page of servers in creation order: at most `limit`, after server `after`.
    ///
    /// # Errors
    /// `Store`.
    pub async fn page(&self, after: Option<VpsId>, limit: i64) -> Result<Vec<Vps>, FleetError> {
        Ok(self.repo.list_vps_page(after, limit).await?)
    }
}
