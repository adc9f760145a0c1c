//! The sites application service: creation (admission, placement, site + operation + job in one
//! unit of work), the requests that change a site, and the job that carries an operation out on
//! the server through the agent, step by step.
//!
//! This file holds what every use case shares: the service, its ports and settings, the job
//! names and payload, and the recording of an operation with its job. Each use case has its
//! own file: `create` (a new site), `request` (an action on an existing site), `run` and `step`
//! (carrying an operation out), `sweeps` (the periodic jobs), `cascade` (following the
//! tenant's status), `queries` (reads), `error`.

mod cascade;
mod create;
mod error;
mod queries;
mod request;
mod run;
mod step;
mod sweeps;
#[cfg(test)]
mod tests;

pub use create::CreateSite;
pub use error::{JobOutcome, SiteError, public_reason};
pub use request::SiteAction;

use crate::model::Operation;
use crate::ports::SiteRepository;
use chom_agent_protocol::PhpVersion;
use chom_infrastructure::{Fleet, VpsRepository};
use chom_kernel::crypto::Sealer;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork};
use chom_kernel::{OperationId, Role, SiteId, StoreError, TenantId};
use chom_team::Action;
use chom_tenancy::PlanRepository;
use chom_tenancy::model::TenantStatus;
use chom_tenancy::ports::OrganizationRepository;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The job that carries out an operation.
pub const RUN_OPERATION: &str = "site_hosting::run_operation";
/// The daily sweep that renews certificates expiring soon.
pub const RENEW_CERTIFICATES: &str = "site_hosting::renew_certificates";
/// Fails the operations whose job died unfinished (every 5 minutes).
pub const REAP_OPERATIONS: &str = "site_hosting::reap_operations";
/// The hourly measurement of every site's disk usage.
pub const MEASURE_STORAGE: &str = "site_hosting::measure_storage";

/// Settings of the context.
#[derive(Debug, Clone)]
pub struct SitesConfig {
    /// Contact e-mail of the ACME account.
    pub acme_email: String,
    /// ACME directory (`None`: Let's Encrypt production).
    pub acme_directory: Option<String>,
    /// Certificates expiring within this are renewed by the sweep.
    pub renew_within: Duration,
}

impl Default for SitesConfig {
    fn default() -> Self {
        Self {
            acme_email: "hostmaster@localhost".into(),
            acme_directory: None,
            renew_within: Duration::from_secs(30 * 86_400),
        }
    }
}

/// The ports the service uses.
#[derive(Clone)]
pub struct SitesPorts {
    /// Units of work.
    pub store: Arc<dyn Store>,
    /// Sites and operations.
    pub sites: Arc<dyn SiteRepository>,
    /// Tenants and organizations.
    pub orgs: Arc<dyn OrganizationRepository>,
    /// Plans (quota).
    pub plans: Arc<dyn PlanRepository>,
    /// Servers (placement).
    pub servers: Arc<dyn VpsRepository>,
    /// The agent on each server.
    pub fleet: Fleet,
    /// Seals database passwords.
    pub sealer: Arc<Sealer>,
    /// Records every requested change, in the change's unit of work.
    pub audit: Arc<dyn chom_kernel::audit::AuditTrail>,
}

fn provision_steps(ssl: bool) -> Vec<&'static str> {
    let mut steps = vec!["site.create", "app.install"];
    if ssl {
        steps.push("ssl.issue");
    }
    steps
}

/// What the operation job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationJob {
    /// Tenant (every read is scoped by it).
    pub tenant_id: TenantId,
    /// The operation.
    pub operation_id: OperationId,
    /// The target version of a PHP switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub php_version: Option<PhpVersion>,
}

/// The sites service.
#[derive(Clone)]
pub struct Sites {
    ports: SitesPorts,
    config: SitesConfig,
}

impl std::fmt::Debug for Sites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sites")
    }
}

/// The associated data a site's database password is sealed with: the value opens only in
/// this site's row.
fn db_password_context(site: SiteId) -> String {
    format!("sites.db_password:{site}")
}

/// Refuses unless the team policy lets `role` perform `action` (`sites.operate` to change a
/// site, `sites.delete` to delete one).
fn forbid_unless(role: Role, action: Action) -> Result<(), SiteError> {
    chom_team::policy::require(role, action).map_err(|d| SiteError::Forbidden(d.to_string()))
}

impl Sites {
    /// A service over its ports.
    #[must_use]
    pub fn new(ports: SitesPorts, config: SitesConfig) -> Self {
        Self { ports, config }
    }

    async fn enqueue(
        &self,
        uow: &mut dyn UnitOfWork,
        op: &Operation,
        php_version: Option<PhpVersion>,
        request_id: Option<String>,
    ) -> Result<(), StoreError> {
        let payload = OperationJob {
            tenant_id: op.tenant_id,
            operation_id: op.id,
            php_version,
        };
        let payload = serde_json::to_value(&payload)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
        let job = uow
            .enqueue(
                NewJob::new(RUN_OPERATION, payload)
                    .max_attempts(8)
                    .tenant(op.tenant_id)
                    .request_id(request_id),
            )
            .await?;
        self.ports.sites.insert_operation(uow, op, job).await
    }

    /// The tenant's status as its sites must follow it (`chom_tenancy::standing`: suspended
    /// when its organization is). `None` for a tenant that no longer exists; its own status
    /// when its organization does not.
    async fn effective_status(&self, tenant: TenantId) -> Result<Option<TenantStatus>, StoreError> {
        let Some(record) = self.ports.orgs.get_tenant(tenant).await? else {
            return Ok(None);
        };
        let org = self
            .ports
            .orgs
            .get_organization(record.organization_id)
            .await?;
        Ok(Some(org.map_or(record.status, |o| {
            chom_tenancy::standing(o.status, record.status)
        })))
    }
}
