//! Where a new site goes: the tenant's dedicated server if it has one with room, else the
//! healthy shared server with the most free capacity, never beyond a server's site cap.

use crate::model::{Allocation, Health, Vps, VpsStatus};
use chom_kernel::{TenantId, VpsId};

/// A server and the sites already placed on it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The server.
    pub vps: &'a Vps,
    /// Sites placed on it (including ones still being created).
    pub sites: i64,
}

impl Candidate<'_> {
    fn free(&self) -> i64 {
        i64::from(self.vps.max_sites) - self.sites
    }

    fn usable(&self) -> bool {
        self.vps.status == VpsStatus::Active
            && matches!(self.vps.health, Health::Healthy | Health::Degraded)
            && self.vps.host_key.is_some()
            && self.free() > 0
    }
}

/// Picks a server for a new site of `tenant`; `None` when no server has room (`NO_CAPACITY`).
/// The caller re-checks the cap inside the transaction that records the site, so concurrent
/// placements cannot overfill a server.
#[must_use]
pub fn place(candidates: &[Candidate<'_>], tenant: TenantId) -> Option<VpsId> {
    let dedicated: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| {
            c.vps.allocation == Allocation::Dedicated && c.vps.dedicated_tenant_id == Some(tenant)
        })
        .collect();
    if !dedicated.is_empty() {
        return dedicated
            .into_iter()
            .filter(|c| c.usable())
            .max_by_key(|c| c.free())
            .map(|c| c.vps.id);
    }
    candidates
        .iter()
        .filter(|c| c.vps.allocation == Allocation::Shared && c.usable())
        // Most free capacity; healthy before degraded; then host name for a stable choice.
        .max_by(|a, b| {
            a.free()
                .cmp(&b.free())
                .then((a.vps.health == Health::Healthy).cmp(&(b.vps.health == Health::Healthy)))
                .then(b.vps.hostname.cmp(&a.vps.hostname))
        })
        .map(|c| c.vps.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn vps(name: &str, max: i32, allocation: Allocation, tenant: Option<TenantId>) -> Vps {
        Vps {
            id: VpsId::new(),
            hostname: name.into(),
            ip_address: "10.0.0.1".into(),
            ssh_port: 22,
            ssh_user: "chom".into(),
            provider: "test".into(),
            region: None,
            cpu_cores: 2,
            memory_mb: 2048,
            disk_gb: 40,
            allocation,
            dedicated_tenant_id: tenant,
            max_sites: max,
            host_key: Some("ssh-ed25519 AAAA".into()),
            status: VpsStatus::Active,
            health: Health::Healthy,
            health_reason: None,
            health_checked_at: None,
            agent_version: None,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn the_shared_server_with_most_room_wins() {
        let (a, b) = (
            vps("a", 8, Allocation::Shared, None),
            vps("b", 8, Allocation::Shared, None),
        );
        let c = [
            Candidate { vps: &a, sites: 5 },
            Candidate { vps: &b, sites: 2 },
        ];
        assert_eq!(place(&c, TenantId::new()), Some(b.id));
        let full = [
            Candidate { vps: &a, sites: 8 },
            Candidate { vps: &b, sites: 8 },
        ];
        assert_eq!(
            place(&full, TenantId::new()),
            None,
            "a server was filled beyond its cap"
        );
    }

    #[test]
    fn unusable_servers_are_skipped() {
        let mut sick = vps("sick", 50, Allocation::Shared, None);
        sick.health = Health::Unreachable;
        let mut maint = vps("maint", 50, Allocation::Shared, None);
        maint.status = VpsStatus::Maintenance;
        let mut untrusted = vps("new", 50, Allocation::Shared, None);
        untrusted.host_key = None;
        let ok = vps("ok", 2, Allocation::Shared, None);
        let c = [
            Candidate {
                vps: &sick,
                sites: 0,
            },
            Candidate {
                vps: &maint,
                sites: 0,
            },
            Candidate {
                vps: &untrusted,
                sites: 0,
            },
            Candidate { vps: &ok, sites: 1 },
        ];
        assert_eq!(place(&c, TenantId::new()), Some(ok.id));
    }

    #[test]
    fn a_dedicated_server_is_used_only_by_its_tenant() {
        let tenant = TenantId::new();
        let own = vps("own", 5, Allocation::Dedicated, Some(tenant));
        let shared = vps("shared", 50, Allocation::Shared, None);
        let c = [
            Candidate {
                vps: &own,
                sites: 1,
            },
            Candidate {
                vps: &shared,
                sites: 0,
            },
        ];
        assert_eq!(place(&c, tenant), Some(own.id));
        assert_eq!(
            place(&c, TenantId::new()),
            Some(shared.id),
            "another tenant got a dedicated server"
        );
        let full = [
            Candidate {
                vps: &own,
                sites: 5,
            },
            Candidate {
                vps: &shared,
                sites: 0,
            },
        ];
        assert_eq!(
            place(&full, tenant),
            None,
            "a full dedicated server spilled onto shared ones"
        );
    }
}
