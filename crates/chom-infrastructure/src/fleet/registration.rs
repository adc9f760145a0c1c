//! Registration: adding and editing servers, with their fields validated.

use super::{Fleet, FleetError, conflict};
use crate::model::{Allocation, Health, Vps, VpsStatus};
use chom_kernel::audit::Actor;
use chom_kernel::{TenantId, VpsId};
use time::OffsetDateTime;

/// A server to add (or the new values of one).
#[derive(Debug, Clone, Default)]
pub struct NewVps {
    /// Host name.
    pub hostname: String,
    /// Address.
    pub ip_address: String,
    /// SSH port (default 22).
    pub ssh_port: Option<u16>,
    /// SSH user (default `chom`).
    pub ssh_user: Option<String>,
    /// Provider.
    pub provider: String,
    /// Region.
    pub region: Option<String>,
    /// CPU cores.
    pub cpu_cores: i32,
    /// Memory.
    pub memory_mb: i32,
    /// Disk.
    pub disk_gb: i32,
    /// `shared` or `dedicated`.
    pub allocation: String,
    /// Tenant of a dedicated server.
    pub dedicated_tenant_id: Option<TenantId>,
    /// Site cap (default 50).
    pub max_sites: Option<i32>,
}

fn hostname_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn validate(input: &NewVps) -> Result<(Allocation, u16, String, i32), FleetError> {
    let mut errors = Vec::new();
    if !hostname_ok(&input.hostname) {
        errors.push((
            "hostname",
            "a host name of letters, digits, '-' and '.'".to_owned(),
        ));
    }
    if input.ip_address.parse::<std::net::IpAddr>().is_err() {
        errors.push(("ip_address", "an IPv4 or IPv6 address".to_owned()));
    }
    let port = input.ssh_port.unwrap_or(22);
    if port == 0 {
        errors.push(("ssh_port", "1 to 65535".to_owned()));
    }
    let user = input.ssh_user.clone().unwrap_or_else(|| "chom".to_owned());
    if user.is_empty()
        || user.len() > 32
        || !user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        || !user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
    {
        errors.push(("ssh_user", "a Linux user name".to_owned()));
    }
    if input.provider.trim().is_empty() || input.provider.len() > 50 {
        errors.push(("provider", "1 to 50 characters".to_owned()));
    }
    if input.region.as_ref().is_some_and(|r| r.len() > 50) {
        errors.push(("region", "at most 50 characters".to_owned()));
    }
    for (field, value, min) in [
        ("cpu_cores", input.cpu_cores, 1),
        ("memory_mb", input.memory_mb, 256),
        ("disk_gb", input.disk_gb, 1),
    ] {
        if value < min {
            errors.push((field, format!("at least {min}")));
        }
    }
    let max_sites = input.max_sites.unwrap_or(50);
    if !(0..=10_000).contains(&max_sites) {
        errors.push(("max_sites", "0 to 10000".to_owned()));
    }
    let allocation = match input.allocation.as_str() {
        "shared" => Some(Allocation::Shared),
        "dedicated" => Some(Allocation::Dedicated),
        _ => {
            errors.push(("allocation", "shared or dedicated".to_owned()));
            None
        }
    };
    if allocation == Some(Allocation::Dedicated) && input.dedicated_tenant_id.is_none() {
        errors.push((
            "dedicated_tenant_id",
            "a dedicated server needs its tenant".to_owned(),
        ));
    }
    match allocation {
        Some(a) if errors.is_empty() => Ok((a, port, user, max_sites)),
        _ => Err(FleetError::Invalid(errors)),
    }
}

impl Fleet {
    /// Adds a server (health `unknown`, no trusted key yet).
    ///
    /// # Errors
    /// `Invalid`, `HostnameTaken`, `Store`.
    pub async fn add(&self, actor: &Actor, input: NewVps) -> Result<Vps, FleetError> {
        let (allocation, ssh_port, ssh_user, max_sites) = validate(&input)?;
        self.check_tenant(allocation, input.dedicated_tenant_id)
            .await?;
        let vps = Vps {
            id: VpsId::new(),
            hostname: input.hostname.to_ascii_lowercase(),
            ip_address: input.ip_address,
            ssh_port,
            ssh_user,
            provider: input.provider.trim().to_owned(),
            region: input.region,
            cpu_cores: input.cpu_cores,
            memory_mb: input.memory_mb,
            disk_gb: input.disk_gb,
            allocation,
            dedicated_tenant_id: input
                .dedicated_tenant_id
                .filter(|_| allocation == Allocation::Dedicated),
            max_sites,
            host_key: None,
            status: VpsStatus::Active,
            health: Health::Unknown,
            health_reason: None,
            health_checked_at: None,
            agent_version: None,
            created_at: OffsetDateTime::now_utc(),
        };
        let mut uow = self.store.begin().await?;
        self.repo
            .insert_vps(uow.as_mut(), &vps)
            .await
            .map_err(conflict)?;
        self.audit(uow.as_mut(), actor, "vps.add", &vps, described(&vps))
            .await?;
        uow.commit().await?;
        Ok(vps)
    }

    /// Edits a server (a changed address or port forgets the trusted key).
    ///
    /// # Errors
    /// `NotFound`, `Invalid`, `HostnameTaken`, `Store`.
    pub async fn edit(&self, actor: &Actor, id: VpsId, input: NewVps) -> Result<Vps, FleetError> {
        let current = self.get(id).await?;
        let (allocation, ssh_port, ssh_user, max_sites) = validate(&input)?;
        self.check_tenant(allocation, input.dedicated_tenant_id)
            .await?;
        let endpoint_changed =
            current.ip_address != input.ip_address || current.ssh_port != ssh_port;
        let vps = Vps {
            hostname: input.hostname.to_ascii_lowercase(),
            ip_address: input.ip_address,
            ssh_port,
            ssh_user,
            provider: input.provider.trim().to_owned(),
            region: input.region,
            cpu_cores: input.cpu_cores,
            memory_mb: input.memory_mb,
            disk_gb: input.disk_gb,
            allocation,
            dedicated_tenant_id: input
                .dedicated_tenant_id
                .filter(|_| allocation == Allocation::Dedicated),
            max_sites,
            host_key: if endpoint_changed {
                None
            } else {
                current.host_key.clone()
            },
            ..current.clone()
        };
        let summary = serde_json::json!({"before": described(&current), "after": described(&vps)});
        self.save_by(actor, "vps.edit", &vps, summary).await?;
        Ok(vps)
    }

    /// A dedicated server must name a tenant that exists (there is no foreign key: tenants
    /// live in another context).
    async fn check_tenant(
        &self,
        allocation: Allocation,
        tenant: Option<TenantId>,
    ) -> Result<(), FleetError> {
        match tenant {
            Some(t)
                if allocation == Allocation::Dedicated && !self.repo.tenant_exists(t).await? =>
            {
                Err(FleetError::Invalid(vec![(
                    "dedicated_tenant_id",
                    "no such tenant".to_owned(),
                )]))
            }
            _ => Ok(()),
        }
    }
}

/// What the audit log keeps of a server's settings.
fn described(v: &Vps) -> serde_json::Value {
    serde_json::json!({
        "hostname": v.hostname,
        "ip_address": v.ip_address,
        "ssh_port": v.ssh_port,
        "ssh_user": v.ssh_user,
        "provider": v.provider,
        "region": v.region,
        "allocation": v.allocation.as_str(),
        "dedicated_tenant_id": v.dedicated_tenant_id,
        "max_sites": v.max_sites,
    })
}
