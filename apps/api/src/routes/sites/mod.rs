//! `/api/v1/sites…` and `/api/v1/operations…`: a tenant's sites and the progress of the work on
//! them. Every lookup is scoped to the caller's tenant: a foreign id is 404.
//!
//! One module per use case, re-exported here; the error mapping and the access checks they
//! share live here.

use crate::error::ApiError;
use crate::extract::Auth;
use actix_web::http::StatusCode;
use chom_auth::Ability;
use chom_kernel::{SiteId, TenantContext};
use chom_site_hosting::{Refusal, SiteError};
use utoipa_actix_web::service_config::ServiceConfig;

mod actions;
mod create;
mod list;
mod operations;
mod reports;
mod views;

pub use actions::*;
pub use create::*;
pub use list::*;
pub use operations::*;
pub use reports::*;
pub use views::*;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_sites)
        .service(create_site)
        .service(get_site)
        .service(update_site)
        .service(delete_site)
        .service(enable_site)
        .service(disable_site)
        .service(retry_site)
        .service(issue_ssl)
        .service(renew_ssl)
        .service(ssl_status)
        .service(clear_cache)
        .service(export_database)
        .service(optimize_database)
        .service(database_credentials)
        .service(site_info)
        .service(list_operations)
        .service(get_operation)
        .service(operation_events);
}

impl From<SiteError> for ApiError {
    fn from(e: SiteError) -> Self {
        match e {
            SiteError::Refused(r) => refusal(r),
            SiteError::NotFound => Self::not_found("no such site or operation"),
            SiteError::Forbidden(m) => Self::forbidden(m),
            SiteError::Invalid(errors) => Self::validation(Self::field_errors(errors)),
            SiteError::Conflict(code, m) => Self::new(StatusCode::CONFLICT, code, m),
            SiteError::Fleet(f) => f.into(),
            SiteError::Store(s) => s.into(),
        }
    }
}

fn refusal(r: Refusal) -> ApiError {
    let code = r.code();
    let message = r.to_string();
    match r {
        Refusal::Invalid(errors) => ApiError::validation(ApiError::field_errors(errors)),
        Refusal::SiteLimitExceeded { current, limit } => {
            let mut ext = serde_json::Map::new();
            ext.insert("current".into(), current.into());
            ext.insert("limit".into(), limit.into());
            ApiError::new(StatusCode::FORBIDDEN, code, message).with_extensions(ext)
        }
        Refusal::DomainTaken => ApiError::new(StatusCode::CONFLICT, code, message),
        Refusal::NoCapacity => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message),
        Refusal::Forbidden(_)
        | Refusal::TenantNotActive
        | Refusal::OrganizationNotApproved
        | Refusal::PlanNotSelected => ApiError::new(StatusCode::FORBIDDEN, code, message),
    }
}

/// The caller's `TenantContext`: who acts, for which tenant, with which role.
fn member(auth: &Auth) -> Result<&TenantContext, ApiError> {
    // A caller outside any organization is told so, before being told it has no tenant.
    auth.membership()?;
    auth.tenant()
}

fn reader(auth: &Auth) -> Result<&TenantContext, ApiError> {
    auth.require(Ability::Read)?;
    member(auth)
}

fn writer(auth: &Auth) -> Result<&TenantContext, ApiError> {
    auth.require(Ability::Write)?;
    member(auth)
}

fn site_id(raw: &str) -> Result<SiteId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such site or operation"))
}
