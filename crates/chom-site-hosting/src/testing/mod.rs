//! In-memory fakes of the ports `Sites` uses, to unit-test the service without a database.
//!
//! Units of work follow ADR 0003: the fake repository downcasts the `&mut dyn UnitOfWork` it
//! is given to [`FakeUnitOfWork`](sites::FakeUnitOfWork), as the Postgres adapter does to its transaction. A unit is a
//! copy of the whole state taken at `begin`; its writes and jobs land in that copy, `commit`
//! puts the copy back, and dropping it discards them (a rollback). There are no row locks: two
//! units open at once would lose the first commit's writes. The service never overlaps units,
//! so sequential tests are faithful; concurrency (quota, placement races) still needs the
//! database-backed tests.
//!
//! Only what the service calls is implemented; the other methods of the tenancy and fleet
//! ports answer `StoreError::Unexpected` so a test relying on them fails loudly.

mod fleet;
mod sites;
mod tenancy;

pub(crate) use fleet::{Answer, FakeAgent, FakeServers};
pub(crate) use sites::{FakeSites, FakeStore, Shared, SiteState};
pub(crate) use tenancy::{FakePlans, FakeTenancy};

use crate::model::{Operation, Site, SiteStatus};
use crate::service::{Sites, SitesConfig, SitesPorts};
use chom_agent_protocol::{Domain, PhpVersion, SiteType};
use chom_auth::ApprovalStatus;
use chom_infrastructure::{AgentGateway, Allocation, Fleet, Health, Vps, VpsRepository, VpsStatus};
use chom_kernel::crypto::Sealer;
use chom_kernel::store::Store;
use chom_kernel::{
    OrganizationId, Role, SiteId, StoreError, TenantContext, TenantId, UserId, VpsId,
};
use chom_tenancy::model::{Organization, OrganizationStatus, Tenant, TenantStatus};
use chom_tenancy::ports::OrganizationRepository;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use time::OffsetDateTime;

pub(crate) fn unsupported(what: &str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("{what} is not implemented by the fake"))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A service over fakes: one approved organization with one active tenant and one trusted,
/// healthy shared server.
pub(crate) struct World {
    pub(crate) sites: Sites,
    pub(crate) state: Shared,
    pub(crate) tenancy: Arc<FakeTenancy>,
    pub(crate) agent: Arc<FakeAgent>,
    /// Every audit event the service appended.
    pub(crate) trail: Arc<chom_kernel::audit::MemoryTrail>,
    pub(crate) tenant: TenantId,
    pub(crate) vps: VpsId,
}

impl World {
    pub(crate) fn new() -> Self {
        let now = OffsetDateTime::now_utc();
        let state = Shared::default();
        let store: Arc<dyn Store> = Arc::new(FakeStore(Arc::clone(&state)));
        let org = Organization {
            id: OrganizationId::new(),
            name: "Acme".into(),
            status: OrganizationStatus::Active,
            approval: ApprovalStatus::Approved,
            approval_reason: None,
            created_at: now,
        };
        let tenant = Tenant {
            id: TenantId::new(),
            organization_id: org.id,
            name: "Acme".into(),
            is_default: true,
            status: TenantStatus::Active,
            plan_code: None,
            plan_selected_at: None,
            created_at: now,
        };
        let vps = Vps {
            id: VpsId::new(),
            hostname: "web1.example.net".into(),
            ip_address: "192.0.2.10".into(),
            ssh_port: 22,
            ssh_user: "chom".into(),
            provider: "custom".into(),
            region: None,
            cpu_cores: 2,
            memory_mb: 4096,
            disk_gb: 80,
            allocation: Allocation::Shared,
            dedicated_tenant_id: None,
            max_sites: 50,
            host_key: Some("ssh-ed25519 AAAAfake".into()),
            status: VpsStatus::Active,
            health: Health::Healthy,
            health_reason: None,
            health_checked_at: None,
            agent_version: None,
            created_at: now,
        };
        let (tenant_id, vps_id) = (tenant.id, vps.id);
        let tenancy = Arc::new(FakeTenancy::default());
        lock(&tenancy.organizations).insert(org.id, org);
        lock(&tenancy.tenants).insert(tenant.id, tenant);
        let servers = Arc::new(FakeServers(Mutex::new(vec![vps])));
        let agent = Arc::new(FakeAgent::default());
        let trail = Arc::new(chom_kernel::audit::MemoryTrail::default());
        let fleet = Fleet::new(
            Arc::clone(&store),
            Arc::clone(&servers) as Arc<dyn VpsRepository>,
            Arc::clone(&agent) as Arc<dyn AgentGateway>,
            Arc::clone(&trail) as Arc<dyn chom_kernel::audit::AuditTrail>,
        );
        let sealer = Arc::new(Sealer::new(&[7; 32]).expect("a 32-byte key"));
        let ports = SitesPorts {
            store,
            sites: Arc::new(FakeSites(Arc::clone(&state))),
            orgs: Arc::clone(&tenancy) as Arc<dyn OrganizationRepository>,
            plans: Arc::new(FakePlans),
            servers,
            fleet,
            sealer,
            audit: Arc::clone(&trail) as Arc<dyn chom_kernel::audit::AuditTrail>,
        };
        Self {
            sites: Sites::new(ports, SitesConfig::default()),
            state,
            tenancy,
            agent,
            trail,
            tenant: tenant_id,
            vps: vps_id,
        }
    }

    /// A member of the tenant with `role`, acting as the authentication layer would let them.
    pub(crate) fn member(&self, role: Role) -> TenantContext {
        TenantContext::authenticated(
            chom_kernel::OrganizationId::new(),
            self.tenant,
            UserId::new(),
            role,
        )
    }

    /// A committed site of the tenant in `status` (PHP 8.2, WordPress).
    pub(crate) fn site(&self, status: SiteStatus) -> Site {
        let now = OffsetDateTime::now_utc();
        let id = SiteId::new();
        let name = format!("s{}.example.com", id.to_string().replace('-', ""));
        let domain = Domain::parse(&name).expect("a valid domain");
        let site = Site {
            id,
            tenant_id: self.tenant,
            vps_id: self.vps,
            domain,
            site_type: SiteType::Wordpress,
            php_version: PhpVersion::V82,
            status,
            status_reason: None,
            suspended_active: false,
            ssl_requested: false,
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
        lock(&self.state).sites.insert(site.id, site.clone());
        site
    }

    /// A committed operation (no job).
    pub(crate) fn operation(&self, op: Operation) {
        lock(&self.state).operations.insert(op.id, (op, None));
    }

    /// The committed state.
    pub(crate) fn committed(&self) -> SiteState {
        lock(&self.state).clone()
    }

    /// Sets the tenant's status.
    pub(crate) fn set_tenant_status(&self, status: TenantStatus) {
        if let Some(t) = lock(&self.tenancy.tenants).get_mut(&self.tenant) {
            t.status = status;
        }
    }
}
