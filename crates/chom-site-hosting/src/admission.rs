//! Whether a site may be created, checked in the product's order, each refusal with a stable
//! code. Pure: the caller supplies what it read (role, tenant, plan, counts, placement).

use chom_agent_protocol::{Domain, PhpVersion, SiteType};
use chom_kernel::{Role, VpsId};
use chom_team::Action;
use chom_tenancy::Plan;
use chom_tenancy::model::TenantStatus;

/// What the checks look at.
pub struct AdmissionInput<'a> {
    /// The member's role.
    pub role: Role,
    /// The tenant's standing.
    pub tenant_status: TenantStatus,
    /// Whether the organization is approved.
    pub organization_approved: bool,
    /// The tenant's plan, if selected.
    pub plan: Option<&'a Plan>,
    /// Sites the tenant has (not counting deleted ones).
    pub current_sites: i64,
    /// Requested domain.
    pub domain: &'a str,
    /// Requested type (`wordpress`, `html`, `laravel`).
    pub site_type: &'a str,
    /// Requested PHP version.
    pub php_version: &'a str,
    /// Whether the tenant already has this domain.
    pub domain_taken: &'a dyn Fn(&Domain) -> bool,
    /// Where placement would put the site (`None`: no server has room).
    pub placement: Option<VpsId>,
}

/// An admitted creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The domain.
    pub domain: Domain,
    /// The type.
    pub site_type: SiteType,
    /// The PHP version.
    pub php_version: PhpVersion,
    /// The server.
    pub vps: VpsId,
}

/// Why a creation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The role may not manage sites.
    #[error("the {0} role may not create sites")]
    Forbidden(&'static str),
    /// The tenant is suspended or cancelled.
    #[error("the tenant is not active")]
    TenantNotActive,
    /// The organization waits for approval.
    #[error("the organization is not approved yet")]
    OrganizationNotApproved,
    /// No plan yet.
    #[error("select a plan first")]
    PlanNotSelected,
    /// The plan's quota is reached.
    #[error("the plan allows {limit} sites and the tenant has {current}")]
    SiteLimitExceeded {
        /// Sites now.
        current: i64,
        /// The plan's limit.
        limit: i64,
    },
    /// Invalid fields: (field, code, message).
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, &'static str, String)>),
    /// The tenant already hosts this domain.
    #[error("the tenant already has this domain")]
    DomainTaken,
    /// No server has room.
    #[error("no server has capacity for a new site")]
    NoCapacity,
}

impl Refusal {
    /// The API's stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "FORBIDDEN",
            Self::TenantNotActive => "TENANT_NOT_ACTIVE",
            Self::OrganizationNotApproved => "ACCOUNT_PENDING_APPROVAL",
            Self::PlanNotSelected => "PLAN_NOT_SELECTED",
            Self::SiteLimitExceeded { .. } => "SITE_LIMIT_EXCEEDED",
            Self::Invalid(_) => "VALIDATION_FAILED",
            Self::DomainTaken => "DOMAIN_TAKEN",
            Self::NoCapacity => "NO_CAPACITY",
        }
    }
}

/// Runs the checks in order: role; tenant active, organization approved, plan selected; quota;
/// domain, type and PHP version valid, domain free; capacity.
///
/// # Errors
/// The first refusal.
pub fn admit(input: &AdmissionInput<'_>) -> Result<Admission, Refusal> {
    if !chom_team::allows(input.role, Action::ManageSites) {
        return Err(Refusal::Forbidden(input.role.as_str()));
    }
    if input.tenant_status != TenantStatus::Active {
        return Err(Refusal::TenantNotActive);
    }
    if !input.organization_approved {
        return Err(Refusal::OrganizationNotApproved);
    }
    let plan = input.plan.ok_or(Refusal::PlanNotSelected)?;
    if !plan.allows_another_site(input.current_sites) {
        return Err(Refusal::SiteLimitExceeded {
            current: input.current_sites,
            limit: i64::from(plan.max_sites.unwrap_or(i32::MAX)),
        });
    }
    let mut errors = Vec::new();
    let domain = Domain::parse(input.domain.trim())
        .map_err(|e| errors.push(("domain", "INVALID_DOMAIN", e.0)))
        .ok();
    let site_type = SiteType::parse(input.site_type)
        .map_err(|e| errors.push(("site_type", "INVALID_VALUE", e.0)))
        .ok();
    let php = PhpVersion::parse(input.php_version)
        .map_err(|e| errors.push(("php_version", "INVALID_VALUE", e.0)))
        .ok();
    let (Some(domain), Some(site_type), Some(php_version)) = (domain, site_type, php) else {
        return Err(Refusal::Invalid(errors));
    };
    if (input.domain_taken)(&domain) {
        return Err(Refusal::DomainTaken);
    }
    let vps = input.placement.ok_or(Refusal::NoCapacity)?;
    Ok(Admission {
        domain,
        site_type,
        php_version,
        vps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chom_tenancy::PlanCode;

    fn starter() -> Plan {
        Plan {
            code: PlanCode::parse("starter").unwrap(),
            name: "Starter".into(),
            price_monthly_cents: 2900,
            max_sites: Some(5),
            max_storage_gb: Some(10),
            backup_retention_days: 7,
            keep_daily: 7,
            keep_weekly: 0,
            keep_monthly: 0,
            api_requests_per_minute: 60,
            max_members: Some(3),
            is_active: true,
        }
    }

    fn input<'a>(
        plan: Option<&'a Plan>,
        domain: &'a str,
        taken: &'a dyn Fn(&Domain) -> bool,
    ) -> AdmissionInput<'a> {
        AdmissionInput {
            role: Role::Member,
            tenant_status: TenantStatus::Active,
            organization_approved: true,
            plan,
            current_sites: 0,
            domain,
            site_type: "wordpress",
            php_version: "8.2",
            domain_taken: taken,
            placement: Some(VpsId::new()),
        }
    }

    #[test]
    fn a_valid_request_is_admitted() {
        let plan = starter();
        let free = |_: &Domain| false;
        let a = admit(&input(Some(&plan), "Shop.Example.com", &free)).unwrap();
        assert_eq!(
            (a.domain.as_str(), a.site_type, a.php_version),
            ("shop.example.com", SiteType::Wordpress, PhpVersion::V82)
        );
    }

    #[test]
    fn the_checks_run_in_the_required_order() {
        let plan = starter();
        let taken = |_: &Domain| true;
        // Everything wrong at once: the role is reported first.
        let mut all_wrong = input(None, "bad domain", &taken);
        all_wrong.role = Role::Viewer;
        all_wrong.tenant_status = TenantStatus::Suspended;
        all_wrong.current_sites = 99;
        all_wrong.placement = None;
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "FORBIDDEN");
        all_wrong.role = Role::Admin;
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "TENANT_NOT_ACTIVE");
        all_wrong.tenant_status = TenantStatus::Active;
        all_wrong.organization_approved = false;
        assert_eq!(
            admit(&all_wrong).unwrap_err().code(),
            "ACCOUNT_PENDING_APPROVAL"
        );
        all_wrong.organization_approved = true;
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "PLAN_NOT_SELECTED");
        all_wrong.plan = Some(&plan);
        assert_eq!(
            admit(&all_wrong).unwrap_err(),
            Refusal::SiteLimitExceeded {
                current: 99,
                limit: 5
            }
        );
        all_wrong.current_sites = 4;
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "VALIDATION_FAILED");
        all_wrong.domain = "ok.example.com";
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "DOMAIN_TAKEN");
        let free = |_: &Domain| false;
        all_wrong.domain_taken = &free;
        assert_eq!(admit(&all_wrong).unwrap_err().code(), "NO_CAPACITY");
    }

    #[test]
    fn the_sixth_site_on_starter_is_refused_with_current_and_limit() {
        let plan = starter();
        let free = |_: &Domain| false;
        let mut i = input(Some(&plan), "six.example.com", &free);
        i.current_sites = 5;
        assert_eq!(
            admit(&i).unwrap_err(),
            Refusal::SiteLimitExceeded {
                current: 5,
                limit: 5
            }
        );
    }

    #[test]
    fn invalid_domains_types_and_versions_name_their_field() {
        let plan = starter();
        let free = |_: &Domain| false;
        let bad_domains = [
            "",
            " ",
            "localhost",
            "example",
            ".example.com",
            "example.com.",
            "ex..ample.com",
            "-a.example.com",
            "a-.example.com",
            "a_b.example.com",
            "a b.example.com",
            "exa mple.com",
            "example.c",
            "example.c0m",
            "example.123",
            "ünicode.example.com",
            "a;rm -rf /.example.com",
            "$(id).example.com",
            "`id`.example.com",
            "a|b.example.com",
            "a/b.example.com",
            "a\\b.example.com",
            "a\nb.example.com",
            "http://example.com",
            "example.com:80",
            "*.example.com",
            &format!("{}.example.com", "a".repeat(64)),
            &format!("{}com", "a.".repeat(127)),
        ];
        assert!(bad_domains.len() >= 20);
        for bad in bad_domains {
            match admit(&input(Some(&plan), bad, &free)) {
                Err(Refusal::Invalid(errors)) => assert!(
                    errors.iter().any(|e| e.0 == "domain"),
                    "{bad:?}: {errors:?}"
                ),
                other => panic!("{bad:?} admitted: {other:?}"),
            }
        }
        let mut i = input(Some(&plan), "ok.example.com", &free);
        i.site_type = "php";
        i.php_version = "7.4";
        match admit(&i) {
            Err(Refusal::Invalid(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.0).collect();
                assert_eq!(fields, ["site_type", "php_version"]);
            }
            other => panic!("admitted: {other:?}"),
        }
    }
}
