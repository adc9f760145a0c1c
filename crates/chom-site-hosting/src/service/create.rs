//! Creating a site: the admission checks, placement on a server, then the site, its
//! provisioning operation and the job, committed together.

use super::error::SiteError;
use super::{Sites, forbid_unless, provision_steps};
use crate::admission::{AdmissionInput, Refusal, admit};
use crate::model::{Operation, Site, SiteStatus};
use crate::ports::VpsLoad;
use chom_auth::ApprovalStatus;
use chom_infrastructure::{Candidate, Vps, place};
use chom_kernel::audit::AuditEvent;
use chom_kernel::store::UnitOfWork;
use chom_kernel::{Conflict, SiteId, StoreError, TenantContext, TenantId, UniqueKey, VpsId};
use chom_team::Action;
use time::OffsetDateTime;

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

impl Sites {
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

    /// Creates a site for the caller's tenant: the admission checks in order (the caller's role
    /// first), then the site, its provisioning operation and the job, committed together.
    ///
    /// # Errors
    /// `Refused` (with the admission's code), `Store`.
    #[tracing::instrument(
        name = "sites.create",
        skip_all,
        fields(tenant = %ctx.tenant_id(), user = %ctx.user_id())
    )]
    pub async fn create(
        &self,
        ctx: &TenantContext,
        request: CreateSite,
        request_id: Option<String>,
    ) -> Result<(Site, Operation), SiteError> {
        let (tenant, role) = (ctx.tenant_id(), ctx.role());
        // The role first: nothing is read for a viewer.
        forbid_unless(role, Action::ManageSites).map_err(|_| Refusal::Forbidden(role.as_str()))?;
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
        let tenant_status = chom_tenancy::standing(org.status, record.status);
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
                StoreError::Conflict(Conflict {
                    key: Some(UniqueKey::SiteTenantDomain),
                    ..
                }) => SiteError::Refused(Refusal::DomainTaken),
                other => other.into(),
            })?;
        let op = Operation::new(
            tenant,
            Some(site.id),
            "provision",
            &provision_steps(request.ssl),
        );
        self.enqueue(uow.as_mut(), &op, None, request_id).await?;
        let event = AuditEvent::by_member(ctx, "site.create", "site", site.id).with_summary(
            serde_json::json!({
                "domain": site.domain.as_str(),
                "site_type": site.site_type.as_str(),
                "php_version": site.php_version.as_str(),
                "ssl": site.ssl_requested,
                "vps_id": site.vps_id,
                "operation_id": op.id,
            }),
        );
        self.ports.audit.append(uow.as_mut(), &event).await?;
        uow.commit().await?;
        Ok((site, op))
    }
}
