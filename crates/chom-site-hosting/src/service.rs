//! The sites application service: creation (admission, placement, site + operation + job in one
//! unit of work), the requests that change a site, and the job that carries an operation out on
//! the server through the agent, step by step.

use crate::admission::{AdmissionInput, Refusal, admit};
use crate::model::{Operation, OperationStatus, Site, SiteStatus, StepStatus};
use crate::ports::{SiteFilter, SiteRepository, VpsLoad};
use chom_agent_protocol::{Command, PhpVersion, SetPhp, SiteRef, SiteSpec, SslRequest};
use chom_auth::ApprovalStatus;
use chom_infrastructure::{Candidate, Fleet, FleetError, GatewayError, Vps, VpsRepository, place};
use chom_kernel::crypto::Sealer;
use chom_kernel::jobs::NewJob;
use chom_kernel::store::{Store, UnitOfWork};
use chom_kernel::{OperationId, Role, SiteId, StoreError, TenantId, VpsId};
use chom_team::Action;
use chom_tenancy::PlanRepository;
use chom_tenancy::model::{OrganizationStatus, TenantStatus};
use chom_tenancy::ports::OrganizationRepository;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The job that carries out an operation.
pub const RUN_OPERATION: &str = "site_hosting::run_operation";
/// The daily sweep that renews certificates expiring soon.
pub const RENEW_CERTIFICATES: &str = "site_hosting::renew_certificates";
/// Fails the operations whose job died unfinished (every 5 minutes).
pub const REAP_OPERATIONS: &str = "site_hosting::reap_operations";
/// The hourly measurement of every site's disk usage.
pub const MEASURE_STORAGE: &str = "site_hosting::measure_storage";

/// Site use-case errors.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A creation refused by the admission checks.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such site or operation in the caller's tenant.
    #[error("not found")]
    NotFound,
    /// The role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Invalid fields: (field, code, message).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, &'static str, String)>),
    /// Not possible in the site's state: (code, message).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The server could not be asked.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
}

/// A creation request (raw: the admission validates it).
#[derive(Debug, Clone, Default)]
pub struct CreateSite {
    /// Domain.
    pub domain: String,
    /// `wordpress` (default), `html`, `laravel`.
    pub site_type: Option<String>,
    /// `8.2` (default), `8.3`, `8.4`.
    pub php_version: Option<String>,
    /// Obtain a certificate once provisioned.
    pub ssl: bool,
}

/// A change requested on a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteAction {
    /// Serve it again.
    Enable,
    /// Stop serving it.
    Disable,
    /// Remove everything.
    Delete,
    /// Move its pool to another PHP version.
    SetPhp(PhpVersion),
    /// Obtain a certificate.
    SslIssue,
    /// Renew the certificate now.
    SslRenew,
    /// Clear the application caches.
    CacheClear,
    /// Dump the database into the site's backups directory.
    DbExport,
    /// Optimize the database's tables.
    DbOptimize,
    /// Re-run a failed provisioning.
    Retry,
}

impl SiteAction {
    /// The operation kind and its steps.
    fn plan(self, site: &Site) -> (&'static str, Vec<&'static str>) {
        match self {
            Self::Enable => ("enable", vec!["site.enable"]),
            Self::Disable => ("disable", vec!["site.disable"]),
            Self::Delete => ("delete", vec!["site.delete", "record.delete"]),
            Self::SetPhp(_) => ("set_php", vec!["site.set_php"]),
            Self::SslIssue => ("ssl_issue", vec!["ssl.issue"]),
            Self::SslRenew => ("ssl_renew", vec!["ssl.renew"]),
            Self::CacheClear => ("cache_clear", vec!["cache.clear"]),
            Self::DbExport => ("db_export", vec!["db.export"]),
            Self::DbOptimize => ("db_optimize", vec!["db.optimize"]),
            Self::Retry => ("provision", provision_steps(site.ssl_requested)),
        }
    }

    /// Whether the site's state allows it.
    fn allowed(self, status: SiteStatus) -> Result<(), String> {
        use SiteStatus::{Active, Deleting, Disabled, Failed};
        let ok = match self {
            Self::Enable => status == Disabled,
            Self::Disable => status == Active,
            Self::Delete => matches!(status, Active | Disabled | Failed | Deleting),
            Self::SetPhp(_) => matches!(status, Active | Disabled),
            Self::SslIssue
            | Self::SslRenew
            | Self::CacheClear
            | Self::DbExport
            | Self::DbOptimize => status == Active,
            Self::Retry => status == Failed,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "not possible while the site is {}",
                status.as_str()
            ))
        }
    }
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

/// How a job attempt ended, for the runner.
#[derive(Debug, thiserror::Error)]
pub enum JobOutcome {
    /// Try again later (the server was unreachable, storage hiccup).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (the payload names nothing).
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for JobOutcome {
    fn from(e: StoreError) -> Self {
        Self::Retry(e.to_string())
    }
}

/// Whether a failed agent call may succeed later. A changed host key is not: retrying cannot
/// make the server present the pinned key, only an administrator can re-pin it, so the
/// operation fails at once with the reason (and the server is marked unhealthy).
fn transient(e: &FleetError) -> bool {
    matches!(
        e,
        FleetError::Gateway(
            GatewayError::Unreachable(_)
                | GatewayError::BadAnswer(_)
                | GatewayError::HostKeyNotTrusted
        ) | FleetError::Store(_)
            | FleetError::Busy(_)
    )
}

/// What a tenant is told about a failed step: a stable code and a sentence, never the
/// transport's or a tool's own words (an `nginx -t` error can name another tenant's site on a
/// shared server; a transport error names hosts and sockets). The full error is logged with
/// the operation id and kept in the job's record for operators (L7).
#[must_use]
pub fn public_reason(e: &FleetError) -> String {
    match e {
        FleetError::Gateway(GatewayError::Unreachable(_)) => {
            "SERVER_UNREACHABLE: the server could not be reached".into()
        }
        FleetError::Gateway(GatewayError::HostKeyMismatch(_)) => {
            "SERVER_IDENTITY_CHANGED: the server's identity changed; an operator must confirm it"
                .into()
        }
        FleetError::Gateway(GatewayError::HostKeyNotTrusted) => {
            "SERVER_NOT_READY: the server is not set up yet".into()
        }
        FleetError::Gateway(GatewayError::BadAnswer(_)) => {
            "SERVER_ERROR: the server's agent did not answer as expected".into()
        }
        FleetError::Busy(_) => "SERVER_BUSY: the server is busy with another change".into(),
        FleetError::Agent(message) => {
            // The agent's own code (`CommandFailed: …`) is stable and names nothing.
            let code = message
                .split_once(':')
                .map(|(c, _)| c.trim())
                .filter(|c| {
                    !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                })
                .unwrap_or("Unknown");
            format!("SERVER_REFUSED ({code}): the server could not apply the change")
        }
        FleetError::Store(_) => "TEMPORARY_ERROR: a temporary error on our side".into(),
        _ => "OPERATION_FAILED: the operation could not be completed".into(),
    }
}

/// What following the tenant's status asks of a site: `Some(true)` serve it again,
/// `Some(false)` take it off the air, `None` nothing.
fn follow(site: &Site, status: TenantStatus) -> Option<bool> {
    if status != TenantStatus::Active && site.status == SiteStatus::Active {
        Some(false)
    } else if status == TenantStatus::Active
        && site.suspended_active
        && site.status == SiteStatus::Disabled
    {
        Some(true)
    } else {
        None
    }
}

/// Records on the site that it now follows the tenant's status.
fn followed(site: &mut Site, serve: bool, status: TenantStatus) {
    if serve {
        site.status = SiteStatus::Active;
        site.suspended_active = false;
        site.status_reason = None;
    } else {
        site.status = SiteStatus::Disabled;
        site.suspended_active = true;
        site.status_reason = Some(format!("tenant {}", status.as_str()));
    }
    site.updated_at = OffsetDateTime::now_utc();
}

/// The certificate expiry an agent answer reports (`expires_at`, RFC 3339).
fn expiry(answer: &serde_json::Value) -> Option<OffsetDateTime> {
    answer["expires_at"]
        .as_str()
        .and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

/// Records the certificate the agent reports on the site.
fn note_certificate(site: &mut Site, answer: &serde_json::Value) {
    if let Some(expires) = expiry(answer) {
        site.ssl_expires_at = Some(expires);
        site.ssl_enabled = true;
    }
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

fn forbid_unless(role: Role) -> Result<(), SiteError> {
    if chom_team::allows(role, Action::ManageSites) {
        Ok(())
    } else {
        Err(SiteError::Forbidden(format!(
            "the {} role may not change sites",
            role.as_str()
        )))
    }
}

impl Sites {
    /// A service over its ports.
    #[must_use]
    pub fn new(ports: SitesPorts, config: SitesConfig) -> Self {
        Self { ports, config }
    }

    /// Picks a server inside the unit: the placement rule, then a lock on the chosen server and
    /// a recount, so concurrent creations cannot overfill it (a full one is skipped).
    async fn place_locked(
        &self,
        uow: &mut dyn UnitOfWork,
        servers: &[Vps],
        tenant: TenantId,
        domain: &str,
    ) -> Result<Option<VpsId>, StoreError> {
        let mut loads: Vec<VpsLoad> = self.ports.sites.vps_loads(uow, domain).await?;
        for _ in 0..servers.len().max(1) {
            let candidates: Vec<Candidate<'_>> = servers
                .iter()
                .filter_map(|vps| {
                    let load = loads.iter().find(|l| l.vps_id == vps.id);
                    if load.is_some_and(|l| l.hosts_domain) {
                        return None;
                    }
                    Some(Candidate {
                        vps,
                        sites: load.map_or(0, |l| l.sites),
                    })
                })
                .collect();
            let Some(choice) = place(&candidates, tenant) else {
                return Ok(None);
            };
            let now = self.ports.sites.lock_vps_load(uow, choice).await?;
            let cap = servers
                .iter()
                .find(|v| v.id == choice)
                .map_or(0, |v| i64::from(v.max_sites));
            if now < cap {
                return Ok(Some(choice));
            }
            // Filled meanwhile: count it as full and choose again.
            match loads.iter_mut().find(|l| l.vps_id == choice) {
                Some(l) => l.sites = now,
                None => loads.push(VpsLoad {
                    vps_id: choice,
                    sites: now,
                    hosts_domain: false,
                }),
            }
        }
        Ok(None)
    }

    /// Creates a site: the admission checks in order, then the site, its provisioning operation
    /// and the job, committed together.
    ///
    /// # Errors
    /// `Refused` (with the admission's code), `Store`.
    pub async fn create(
        &self,
        tenant: TenantId,
        role: Role,
        request: CreateSite,
        request_id: Option<String>,
    ) -> Result<(Site, Operation), SiteError> {
        // The role first: nothing is read for a viewer.
        forbid_unless(role).map_err(|_| Refusal::Forbidden(role.as_str()))?;
        // Reads through the pool come first: a unit of work must not wait for a second
        // connection while it holds one (and the tenant's lock).
        let record = self
            .ports
            .orgs
            .get_tenant(tenant)
            .await?
            .ok_or(SiteError::NotFound)?;
        let org = self
            .ports
            .orgs
            .get_organization(record.organization_id)
            .await?
            .ok_or(SiteError::NotFound)?;
        let plan = match &record.plan_code {
            Some(code) => self.ports.plans.find(code).await?,
            None => None,
        };
        let servers = self.ports.servers.list_vps().await?;
        let mut uow = self.ports.store.begin().await?;
        self.ports
            .sites
            .lock_tenant(uow.as_mut(), tenant)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => SiteError::NotFound,
                other => other.into(),
            })?;
        let current = self.ports.sites.count_sites(uow.as_mut(), tenant).await?;
        let wanted = request.domain.trim().to_ascii_lowercase();
        let taken = self.ports.sites.domain_taken(uow.as_mut(), &wanted).await?;
        let tenant_status = if org.status == OrganizationStatus::Suspended {
            TenantStatus::Suspended
        } else {
            record.status
        };
        // Placement only once everything before it passed (it locks a server row).
        let pre = AdmissionInput {
            role,
            tenant_status,
            organization_approved: org.approval == ApprovalStatus::Approved,
            plan: plan.as_ref(),
            current_sites: current,
            domain: &request.domain,
            site_type: request.site_type.as_deref().unwrap_or("wordpress"),
            php_version: request.php_version.as_deref().unwrap_or("8.2"),
            domain_taken: &|_| taken,
            placement: Some(VpsId::new()),
        };
        admit(&pre)?;
        let placement = self
            .place_locked(uow.as_mut(), &servers, tenant, &wanted)
            .await?;
        let admitted = admit(&AdmissionInput { placement, ..pre })?;
        let now = OffsetDateTime::now_utc();
        let site = Site {
            id: SiteId::new(),
            tenant_id: tenant,
            vps_id: admitted.vps,
            domain: admitted.domain,
            site_type: admitted.site_type,
            php_version: admitted.php_version,
            status: SiteStatus::Creating,
            status_reason: None,
            suspended_active: false,
            ssl_requested: request.ssl,
            ssl_enabled: false,
            ssl_expires_at: None,
            db_name: None,
            db_user: None,
            db_password_sealed: None,
            storage_used_mb: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.ports
            .sites
            .insert_site(uow.as_mut(), &site)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(c)
                    if c.contains("tenant_domain") || c.contains("sites.tenant_id") =>
                {
                    SiteError::Refused(Refusal::DomainTaken)
                }
                other => other.into(),
            })?;
        let op = Operation::new(
            tenant,
            Some(site.id),
            "provision",
            &provision_steps(request.ssl),
        );
        self.enqueue(uow.as_mut(), &op, None, request_id).await?;
        uow.commit().await?;
        Ok((site, op))
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

    /// Requests a change: checks role and state, records the operation and its job together.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `Conflict` (`INVALID_STATE`, `OPERATION_IN_PROGRESS`), `Store`.
    pub async fn request(
        &self,
        tenant: TenantId,
        role: Role,
        id: SiteId,
        action: SiteAction,
        request_id: Option<String>,
    ) -> Result<(Site, Operation), SiteError> {
        forbid_unless(role)?;
        // A suspended tenant may take its sites down, not bring them back or change them.
        if !matches!(action, SiteAction::Delete | SiteAction::Disable)
            && self.effective_status(tenant).await? != Some(TenantStatus::Active)
        {
            return Err(Refusal::TenantNotActive.into());
        }
        let mut uow = self.ports.store.begin().await?;
        let mut site = self
            .ports
            .sites
            .lock_site(uow.as_mut(), tenant, id)
            .await?
            .ok_or(SiteError::NotFound)?;
        if let Some(running) = self
            .ports
            .sites
            .active_operation(uow.as_mut(), site.id)
            .await?
        {
            return Err(SiteError::Conflict(
                "OPERATION_IN_PROGRESS",
                format!("operation {running} is still running on this site"),
            ));
        }
        action
            .allowed(site.status)
            .map_err(|m| SiteError::Conflict("INVALID_STATE", m))?;
        if let SiteAction::SetPhp(v) = action
            && v == site.php_version
        {
            return Err(SiteError::Conflict(
                "INVALID_STATE",
                format!("the site already runs PHP {}", v.as_str()),
            ));
        }
        let (kind, steps) = action.plan(&site);
        let next = match action {
            SiteAction::Delete => Some(SiteStatus::Deleting),
            SiteAction::Retry => Some(SiteStatus::Creating),
            _ => None,
        };
        if let Some(next) = next {
            site.status = next;
            site.status_reason = None;
            site.updated_at = OffsetDateTime::now_utc();
            self.ports.sites.update_site(uow.as_mut(), &site).await?;
        }
        let op = Operation::new(tenant, Some(site.id), kind, &steps);
        let php = match action {
            SiteAction::SetPhp(v) => Some(v),
            _ => None,
        };
        self.enqueue(uow.as_mut(), &op, php, request_id).await?;
        uow.commit().await?;
        Ok((site, op))
    }

    /// The tenant's status as its sites must follow it: suspended when its organization is.
    /// `None` for a tenant that no longer exists.
    async fn effective_status(&self, tenant: TenantId) -> Result<Option<TenantStatus>, StoreError> {
        let Some(record) = self.ports.orgs.get_tenant(tenant).await? else {
            return Ok(None);
        };
        let org_suspended = self
            .ports
            .orgs
            .get_organization(record.organization_id)
            .await?
            .is_some_and(|o| o.status == OrganizationStatus::Suspended);
        Ok(Some(if org_suspended {
            TenantStatus::Suspended
        } else {
            record.status
        }))
    }

    /// Brings a site in line with its tenant's status: an active site of a suspended tenant is
    /// disabled on its server (and marked to come back); a site so marked is enabled again once
    /// the tenant is active. Returns whether it changed the site.
    async fn reconcile(&self, site: &mut Site, status: TenantStatus) -> Result<bool, FleetError> {
        let Some(serve) = follow(site, status) else {
            return Ok(false);
        };
        self.switch(site, serve).await?;
        followed(site, serve, status);
        Ok(true)
    }

    /// Turns the site's vhost on (`serve`) or off on its server.
    async fn switch(&self, site: &Site, serve: bool) -> Result<(), FleetError> {
        let site_ref = SiteRef {
            domain: site.domain.clone(),
        };
        let command = if serve {
            Command::SiteEnable(site_ref)
        } else {
            Command::SiteDisable(site_ref)
        };
        self.ports.fleet.run(site.vps_id, command).await.map(drop)
    }

    /// A site of the tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn get(&self, tenant: TenantId, id: SiteId) -> Result<Site, SiteError> {
        self.ports
            .sites
            .get_site(tenant, id)
            .await?
            .ok_or(SiteError::NotFound)
    }

    /// A page of the tenant's sites.
    ///
    /// # Errors
    /// `Store`.
    pub async fn list(
        &self,
        tenant: TenantId,
        filter: &SiteFilter,
    ) -> Result<Vec<Site>, SiteError> {
        Ok(self.ports.sites.list_sites(tenant, filter).await?)
    }

    /// An operation of the tenant.
    ///
    /// # Errors
    /// `NotFound`, `Store`.
    pub async fn operation(
        &self,
        tenant: TenantId,
        id: OperationId,
    ) -> Result<Operation, SiteError> {
        self.ports
            .sites
            .get_operation(tenant, id)
            .await?
            .ok_or(SiteError::NotFound)
    }

    /// A live site's operations, newest first.
    ///
    /// # Errors
    /// `NotFound` (no such live site in the tenant), `Store`.
    pub async fn operations(
        &self,
        tenant: TenantId,
        site: SiteId,
        before: Option<OperationId>,
        limit: i64,
    ) -> Result<Vec<Operation>, SiteError> {
        self.get(tenant, site).await?;
        Ok(self
            .ports
            .sites
            .list_operations(tenant, site, before, limit)
            .await?)
    }

    /// The site's database name, user and password (unsealed).
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (not provisioned yet), `Store`.
    pub async fn credentials(
        &self,
        tenant: TenantId,
        id: SiteId,
    ) -> Result<(String, String, String), SiteError> {
        let site = self.get(tenant, id).await?;
        let (Some(name), Some(user), Some(sealed)) =
            (site.db_name, site.db_user, site.db_password_sealed)
        else {
            return Err(SiteError::Conflict(
                "NO_DATABASE",
                "the site has no database yet".into(),
            ));
        };
        let password = self
            .ports
            .sealer
            .open_for(&db_password_context(site.id), &sealed)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("database password: {e}")))?;
        let password = String::from_utf8(password)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("database password: {e}")))?;
        Ok((name, user, password))
    }

    /// A read-only agent command about a live site (info, certificate status).
    ///
    /// # Errors
    /// `NotFound`, `Conflict` (not provisioned), `Fleet`.
    pub async fn ask(
        &self,
        tenant: TenantId,
        id: SiteId,
        command: fn(SiteRef) -> Command,
    ) -> Result<(Site, serde_json::Value), SiteError> {
        let site = self.get(tenant, id).await?;
        if matches!(site.status, SiteStatus::Creating | SiteStatus::Failed) {
            return Err(SiteError::Conflict(
                "INVALID_STATE",
                format!("not possible while the site is {}", site.status.as_str()),
            ));
        }
        let answer = self
            .ports
            .fleet
            .run(
                site.vps_id,
                command(SiteRef {
                    domain: site.domain.clone(),
                }),
            )
            .await?;
        Ok((site, answer))
    }

    /// Saves the operation's progress (and the site) in one unit. `false` when the operation
    /// had already ended elsewhere (the reaper failed it): nothing is written, stop.
    async fn persist(&self, site: Option<&Site>, op: &Operation) -> Result<bool, StoreError> {
        let mut uow = self.ports.store.begin().await?;
        if let Some(site) = site {
            self.ports.sites.update_site(uow.as_mut(), site).await?;
        }
        match self.ports.sites.save_operation(uow.as_mut(), op).await {
            Ok(()) => uow.commit().await.map(|()| true),
            Err(StoreError::NotFound) => {
                tracing::warn!(operation = %op.id, "the operation ended elsewhere; stopping");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Carries an operation out (the job handler). Steps already done are skipped, so a re-run
    /// after a crash continues where the last one stopped; every agent step converges when
    /// repeated. A transient failure is retried (`Retry`) until `last_attempt`; any other
    /// failure is recorded on the operation and the site, and the job ends.
    ///
    /// # Errors
    /// `Retry` (try again later), `Permanent` (the operation does not exist).
    pub async fn run_operation(
        &self,
        job: &OperationJob,
        last_attempt: bool,
    ) -> Result<(), JobOutcome> {
        let mut op = self
            .ports
            .sites
            .get_operation(job.tenant_id, job.operation_id)
            .await?
            .ok_or_else(|| JobOutcome::Permanent(format!("no operation {}", job.operation_id)))?;
        if op.status.is_terminal() {
            return Ok(());
        }
        let Some(site_id) = op.site_id else {
            return Err(JobOutcome::Permanent("the operation names no site".into()));
        };
        let mut site = self.ports.sites.get_site(job.tenant_id, site_id).await?;
        let steps: Vec<String> = op
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Done)
            .map(|s| s.name.clone())
            .collect();
        for step in steps {
            let Some(current) = site.as_mut() else {
                // The record is gone: only a deletion gets here, after its last step.
                op.finish(&step, OffsetDateTime::now_utc());
                continue;
            };
            op.start(&step, OffsetDateTime::now_utc());
            if !self.persist(None, &op).await? {
                return Ok(());
            }
            match self.step(&step, current, job).await {
                Ok(()) => {
                    op.finish(&step, OffsetDateTime::now_utc());
                    if op.status == OperationStatus::Succeeded && op.kind == "provision" {
                        current.status = SiteStatus::Active;
                        current.status_reason = None;
                    }
                    if op.status == OperationStatus::Succeeded && current.deleted_at.is_none() {
                        // The tenant may have been suspended (or reactivated) meanwhile: the
                        // suspension cascade skips sites with an operation in flight.
                        let status = self
                            .effective_status(job.tenant_id)
                            .await?
                            .unwrap_or(TenantStatus::Cancelled);
                        if let Err(e) = self.reconcile(current, status).await {
                            tracing::warn!(site = %current.id, error = %e, "could not follow the tenant's status; the cascade will");
                        }
                    }
                    current.updated_at = OffsetDateTime::now_utc();
                    if !self.persist(Some(current), &op).await? {
                        return Ok(());
                    }
                    if current.deleted_at.is_some() {
                        site = None;
                    }
                }
                Err(e) if transient(&e) && !last_attempt => {
                    tracing::warn!(operation = %op.id, step, error = %e, "step failed; will retry");
                    op.retrying(&step, &public_reason(&e), OffsetDateTime::now_utc());
                    if !self.persist(None, &op).await? {
                        return Ok(());
                    }
                    return Err(JobOutcome::Retry(format!("{step}: {e}")));
                }
                Err(e) => {
                    tracing::warn!(operation = %op.id, step, error = %e, "step failed");
                    let why = public_reason(&e);
                    op.fail(&step, &why, OffsetDateTime::now_utc());
                    current.status_reason = Some(format!("{step}: {why}"));
                    if op.kind == "provision" {
                        // Served over HTTP when only the certificate failed.
                        current.status = if step == "ssl.issue" {
                            SiteStatus::Active
                        } else {
                            SiteStatus::Failed
                        };
                    }
                    current.updated_at = OffsetDateTime::now_utc();
                    if !self.persist(Some(current), &op).await? {
                        return Ok(());
                    }
                    tracing::warn!(site = %current.id, operation = %op.id, step, error = %why, "site operation failed");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One step on the server; the site is updated in place with what it learned.
    async fn step(
        &self,
        step: &str,
        site: &mut Site,
        job: &OperationJob,
    ) -> Result<(), FleetError> {
        let site_ref = SiteRef {
            domain: site.domain.clone(),
        };
        let fleet = &self.ports.fleet;
        let vps = site.vps_id;
        match step {
            "site.create" => {
                let answer = fleet
                    .run(
                        vps,
                        Command::SiteCreate(SiteSpec {
                            domain: site.domain.clone(),
                            site_type: site.site_type,
                            php_version: site.php_version,
                        }),
                    )
                    .await?;
                let db = &answer["database"];
                let (Some(name), Some(user), Some(password)) = (
                    db["name"].as_str(),
                    db["user"].as_str(),
                    db["password"].as_str(),
                ) else {
                    return Err(FleetError::Agent(
                        "site.create answered without database credentials".into(),
                    ));
                };
                let sealed = self
                    .ports
                    .sealer
                    .seal_for(&db_password_context(site.id), password.as_bytes())
                    .map_err(|e| FleetError::Store(StoreError::Unexpected(anyhow::anyhow!(e))))?;
                site.db_name = Some(name.to_owned());
                site.db_user = Some(user.to_owned());
                site.db_password_sealed = Some(sealed);
            }
            "app.install" => {
                fleet.run(vps, Command::AppInstall(site_ref)).await?;
            }
            "ssl.issue" => {
                let answer = fleet
                    .run(
                        vps,
                        Command::SslIssue(SslRequest {
                            domain: site.domain.clone(),
                            email: self.config.acme_email.clone(),
                            directory_url: self.config.acme_directory.clone(),
                        }),
                    )
                    .await?;
                site.ssl_enabled = true;
                note_certificate(site, &answer);
            }
            "ssl.renew" => {
                // A re-run (the previous attempt's answer was lost) must not issue yet another
                // certificate: one that outlives the recorded expiry is already the renewal.
                let current = fleet.run(vps, Command::SslStatus(site_ref.clone())).await?;
                if expiry(&current).is_some_and(|e| site.ssl_expires_at.is_none_or(|old| e > old)) {
                    note_certificate(site, &current);
                } else {
                    let answer = fleet.run(vps, Command::SslRenew(site_ref)).await?;
                    note_certificate(site, &answer);
                }
            }
            "site.enable" => {
                fleet.run(vps, Command::SiteEnable(site_ref)).await?;
                site.status = SiteStatus::Active;
                site.status_reason = None;
            }
            "site.disable" => {
                fleet.run(vps, Command::SiteDisable(site_ref)).await?;
                site.status = SiteStatus::Disabled;
            }
            "site.set_php" => {
                let Some(v) = job.php_version else {
                    return Err(FleetError::Agent("no PHP version in the job".into()));
                };
                fleet
                    .run(
                        vps,
                        Command::SiteSetPhp(SetPhp {
                            domain: site.domain.clone(),
                            php_version: v,
                        }),
                    )
                    .await?;
                site.php_version = v;
                site.status_reason = None;
            }
            "site.delete" => {
                fleet.run(vps, Command::SiteDelete(site_ref)).await?;
            }
            "record.delete" => {
                site.deleted_at = Some(OffsetDateTime::now_utc());
            }
            "cache.clear" => {
                fleet.run(vps, Command::CacheClear(site_ref)).await?;
            }
            "db.export" => {
                fleet.run(vps, Command::DbExport(site_ref)).await?;
            }
            "db.optimize" => {
                fleet.run(vps, Command::DbOptimize(site_ref)).await?;
            }
            other => {
                return Err(FleetError::Agent(format!("unknown step {other}")));
            }
        }
        Ok(())
    }

    /// Measures every served site's disk usage on its server (`site.info`) and records it in
    /// MB, rounded up. A server that cannot answer is skipped (its sites keep their last
    /// figure) and counted. Returns (sites measured, sites skipped).
    ///
    /// # Errors
    /// `Store`.
    pub async fn measure_storage(&self) -> Result<(usize, usize), SiteError> {
        const PAGE: i64 = 500;
        let (mut measured, mut skipped) = (0, 0);
        let mut after = None;
        loop {
            let page = self.ports.sites.live_sites(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let full = i64::try_from(page.len()).unwrap_or(PAGE) == PAGE;
            for site in page {
                if !matches!(site.status, SiteStatus::Active | SiteStatus::Disabled) {
                    continue;
                }
                let report = self
                    .ports
                    .fleet
                    .run(
                        site.vps_id,
                        Command::SiteInfo(SiteRef {
                            domain: site.domain.clone(),
                        }),
                    )
                    .await;
                let Some(bytes) = report
                    .as_ref()
                    .ok()
                    .and_then(|r| r["disk_usage_bytes"].as_u64())
                else {
                    if let Err(e) = report {
                        tracing::warn!(site = %site.id, error = %e, "disk usage not measured");
                    }
                    skipped += 1;
                    continue;
                };
                let mb = i64::try_from(bytes.div_ceil(1024 * 1024)).unwrap_or(i64::MAX);
                measured += 1;
                if mb != site.storage_used_mb {
                    self.ports
                        .sites
                        .record_storage(site.tenant_id, site.id, mb, OffsetDateTime::now_utc())
                        .await?;
                }
            }
            if !full {
                break;
            }
        }
        Ok((measured, skipped))
    }

    /// Fails every pending or running operation whose job is no longer queued or running (a
    /// worker died on the job's last attempt, or the handler failed for good): nothing else
    /// would end it, and it would block every later request on its site. A provisioning's site
    /// becomes `failed` (retry or delete are possible again). Returns how many were failed.
    ///
    /// # Errors
    /// `Store`.
    pub async fn reap_abandoned(&self) -> Result<usize, SiteError> {
        const WHY: &str = "its job stopped before the operation ended";
        let mut reaped = 0;
        for mut op in self.ports.sites.abandoned_operations(500).await? {
            let now = OffsetDateTime::now_utc();
            let step = op
                .steps
                .iter()
                .find(|s| s.status != StepStatus::Done)
                .map_or_else(|| op.kind.clone(), |s| s.name.clone());
            op.fail(&step, WHY, now);
            let mut uow = self.ports.store.begin().await?;
            let site = match op.site_id {
                Some(id) => {
                    self.ports
                        .sites
                        .lock_site(uow.as_mut(), op.tenant_id, id)
                        .await?
                }
                None => None,
            };
            if let Some(mut site) = site {
                site.status_reason = Some(format!("{step}: {WHY}"));
                if op.kind == "provision" && site.status == SiteStatus::Creating {
                    site.status = SiteStatus::Failed;
                }
                site.updated_at = now;
                self.ports.sites.update_site(uow.as_mut(), &site).await?;
            }
            match self.ports.sites.save_operation(uow.as_mut(), &op).await {
                Ok(()) => uow.commit().await?,
                // It ended meanwhile: leave it (and its site) as they are.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
            tracing::warn!(operation = %op.id, kind = %op.kind, "abandoned operation failed");
            reaped += 1;
        }
        Ok(reaped)
    }

    /// The renewal sweep: an `ssl_renew` operation for every live, active site whose certificate
    /// expires within the configured window (at most one per site per day). Returns how many.
    ///
    /// # Errors
    /// `Store`.
    pub async fn renew_expiring(&self, now: OffsetDateTime) -> Result<usize, SiteError> {
        let window = time::Duration::try_from(self.config.renew_within)
            .map_err(|e| StoreError::Unexpected(anyhow::anyhow!(e)))?;
        let due = self.ports.sites.ssl_expiring(now + window).await?;
        let mut queued = 0;
        for site in due {
            if site.status != SiteStatus::Active {
                continue;
            }
            let mut uow = self.ports.store.begin().await?;
            // Under the site's lock: no delete or other operation can start meanwhile.
            let Some(site) = self
                .ports
                .sites
                .lock_site(uow.as_mut(), site.tenant_id, site.id)
                .await?
            else {
                continue;
            };
            if site.status != SiteStatus::Active
                || self
                    .ports
                    .sites
                    .active_operation(uow.as_mut(), site.id)
                    .await?
                    .is_some()
            {
                continue;
            }
            let (kind, steps) = SiteAction::SslRenew.plan(&site);
            let op = Operation::new(site.tenant_id, Some(site.id), kind, &steps);
            self.enqueue(uow.as_mut(), &op, None, None).await?;
            uow.commit().await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// The tenant suspension cascade: a suspended or cancelled tenant (or one whose
    /// organization is suspended) has its active sites disabled on their servers and marked to
    /// come back; an active one has the marked sites re-enabled. It acts on the status as it is
    /// now, not as the event said, so events handled out of order still converge; a site with
    /// an operation in flight is left to that operation (it follows the tenant when it ends).
    /// Safe to repeat. Returns how many sites changed.
    ///
    /// # Errors
    /// `Retry` when a server or the store failed for some site (the others are done).
    pub async fn apply_tenant_status(&self, tenant: TenantId) -> Result<usize, JobOutcome> {
        let Some(status) = self.effective_status(tenant).await? else {
            return Ok(0);
        };
        let filter = SiteFilter {
            limit: 10_000,
            ..SiteFilter::default()
        };
        let sites = self.ports.sites.list_sites(tenant, &filter).await?;
        let (mut changed, mut failures) = (0, Vec::new());
        for listed in sites {
            // Decide outside any transaction (the server call may take a while), then record
            // under the row lock, only if the site is still as it was decided on.
            let busy = {
                let mut uow = self.ports.store.begin().await?;
                self.ports
                    .sites
                    .active_operation(uow.as_mut(), listed.id)
                    .await?
                    .is_some()
            };
            let Some(serve) = follow(&listed, status).filter(|_| !busy) else {
                continue;
            };
            if let Err(e) = self.switch(&listed, serve).await {
                failures.push(format!("{}: {e}", listed.domain));
                continue;
            }
            let mut uow = self.ports.store.begin().await?;
            if let Some(mut site) = self
                .ports
                .sites
                .lock_site(uow.as_mut(), tenant, listed.id)
                .await?
                && follow(&site, status) == Some(serve)
            {
                followed(&mut site, serve, status);
                self.ports.sites.update_site(uow.as_mut(), &site).await?;
                uow.commit().await?;
                changed += 1;
            }
        }
        if failures.is_empty() {
            Ok(changed)
        } else {
            Err(JobOutcome::Retry(failures.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l7_tenants_see_stable_codes_never_transport_or_tool_text() {
        let secret = "chom@10.0.0.7:22 /etc/nginx/sites-enabled/other-tenant.example.com";
        let cases = [
            FleetError::Gateway(GatewayError::Unreachable(secret.into())),
            FleetError::Gateway(GatewayError::BadAnswer(secret.into())),
            FleetError::Gateway(GatewayError::HostKeyMismatch(secret.into())),
            FleetError::Agent(format!("CommandFailed: nginx -t: {secret}")),
            FleetError::Busy(secret.into()),
        ];
        for e in &cases {
            let shown = public_reason(e);
            assert!(
                !shown.contains("10.0.0.7") && !shown.contains("other-tenant"),
                "{shown}"
            );
            let code = shown.split(':').next().unwrap_or_default();
            assert!(code.starts_with("SERVER_"), "{shown}");
        }
        assert!(public_reason(&cases[3]).starts_with("SERVER_REFUSED (CommandFailed)"));
        // A message that does not start with a plain code names nothing either.
        let odd = public_reason(&FleetError::Agent(format!("{secret}: boom")));
        assert!(odd.starts_with("SERVER_REFUSED (Unknown)"), "{odd}");
    }
}
