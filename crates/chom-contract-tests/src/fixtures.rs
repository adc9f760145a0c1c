//! What the sites and fleet suites both build: a fixed time, servers, tenants and sites.

use crate::Backend;
use chom_agent_protocol::{Domain, PhpVersion, SiteType};
use chom_infrastructure::model::{Allocation, Health, Vps, VpsStatus};
use chom_kernel::{SiteId, TenantId, VpsId};
use chom_site_hosting::model::{Site, SiteStatus};
use chom_tenancy::model::{Organization, OrganizationStatus, Tenant, TenantStatus};
use time::OffsetDateTime;

/// A fixed time with millisecond precision (SQLite keeps milliseconds).
pub(crate) fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
}

/// A new active shared server named `hostname`, not yet trusted.
pub(crate) fn server(hostname: &str) -> Vps {
    Vps {
        id: VpsId::new(),
        hostname: hostname.to_owned(),
        ip_address: "192.0.2.10".into(),
        ssh_port: 22,
        ssh_user: "chom".into(),
        provider: "custom".into(),
        region: Some("eu-1".into()),
        cpu_cores: 4,
        memory_mb: 8192,
        disk_gb: 160,
        allocation: Allocation::Shared,
        dedicated_tenant_id: None,
        max_sites: 50,
        host_key: None,
        status: VpsStatus::Active,
        health: Health::Unknown,
        health_reason: None,
        health_checked_at: None,
        agent_version: None,
        created_at: t0(),
    }
}

/// Stores `vps` in its own committed unit.
pub(crate) async fn insert_server(b: &Backend, vps: &Vps) {
    let mut uow = b.store.begin().await.unwrap();
    b.fleet.insert_vps(uow.as_mut(), vps).await.unwrap();
    uow.commit().await.unwrap();
}

/// A new tenant (with its organization), committed.
pub(crate) async fn tenant(b: &Backend) -> TenantId {
    let org = Organization {
        id: chom_kernel::OrganizationId::new(),
        name: "Acme".into(),
        status: OrganizationStatus::Active,
        approval: chom_auth::ApprovalStatus::Approved,
        approval_reason: None,
        created_at: t0(),
    };
    let tenant = Tenant {
        id: TenantId::new(),
        organization_id: org.id,
        name: "Default".into(),
        is_default: true,
        status: TenantStatus::Active,
        plan_code: None,
        plan_selected_at: None,
        created_at: t0(),
    };
    let mut uow = b.store.begin().await.unwrap();
    b.identity
        .orgs
        .insert_organization(uow.as_mut(), &org, &tenant)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    tenant.id
}

/// A new active WordPress site of `tenant` on `vps`.
pub(crate) fn site(tenant: TenantId, vps: VpsId, domain: &str) -> Site {
    Site {
        id: SiteId::new(),
        tenant_id: tenant,
        vps_id: vps,
        domain: Domain::parse(domain).unwrap(),
        site_type: SiteType::Wordpress,
        php_version: PhpVersion::V83,
        status: SiteStatus::Active,
        status_reason: None,
        suspended_active: false,
        ssl_requested: true,
        ssl_enabled: false,
        ssl_expires_at: None,
        db_name: Some("wp_shop".into()),
        db_user: Some("wp_shop".into()),
        db_password_sealed: None,
        storage_used_mb: 0,
        created_at: t0(),
        updated_at: t0(),
        deleted_at: None,
    }
}
