//! What a tenant does to a site: PHP version, delete, enable, disable, retry, certificates,
//! caches, database export and optimization. Each answers 202 with the operation doing it.

use super::views::{AcceptedResponse, accepted};
use super::{site_id, writer};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::request_id::current_request_id;
use crate::wiring::Services;
use actix_web::{HttpResponse, delete, patch, post, web};
use chom_agent_protocol::PhpVersion;
use chom_auth::Ability;
use chom_site_hosting::SiteAction;
use serde::Deserialize;
use utoipa::ToSchema;

/// Site changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"php_version": "8.4"}))]
pub struct UpdateSiteRequest {
    /// The new PHP version (`8.2`, `8.3`, `8.4`): the pool moves on the server.
    pub php_version: String,
}

async fn act(
    auth: &Auth,
    services: &Services,
    raw: &str,
    action: SiteAction,
) -> Result<HttpResponse, ApiError> {
    let ctx = writer(auth)?;
    // The role before the budget: a viewer's refused attempts must not use up the tenant's
    // sensitive operations and lock its admins out.
    chom_team::policy::require(ctx.role(), action.needs())
        .map_err(|d| ApiError::forbidden(d.to_string()))?;
    if matches!(action, SiteAction::Delete | SiteAction::DbExport) {
        // Sensitive: a stolen token must not delete or dump a tenant's sites in bulk.
        crate::ratelimit::sensitive(services, ctx.tenant_id()).await?;
    }
    let (site, op) = services
        .sites
        .request(ctx, site_id(raw)?, action, current_request_id())
        .await?;
    Ok(accepted(&site, &op))
}

/// Switches the site's PHP version (202: follow the operation).
#[utoipa::path(patch, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])), request_body = UpdateSiteRequest,
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 202, description = "Accepted", body = AcceptedResponse),
        (status = 403, description = "`FORBIDDEN` (viewer), `INSUFFICIENT_ABILITY`, `TENANT_NOT_ACTIVE` (a suspended tenant)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: unsupported version", body = Problem, content_type = "application/problem+json")))]
#[patch("/sites/{id}")]
pub async fn update_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: Body<UpdateSiteRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    let version = PhpVersion::parse(&body.0.php_version)
        .map_err(|e| ApiError::field("php_version", "INVALID_VALUE", e.0))?;
    act(&auth, &services, &path, SiteAction::SetPhp(version)).await
}

/// Deletes the site: everything on the server, then the record (202: follow the operation).
#[utoipa::path(delete, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 202, description = "Accepted (the site is `deleting`)", body = AcceptedResponse),
        (status = 403, description = "`FORBIDDEN` (viewer), `INSUFFICIENT_ABILITY`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json")))]
#[delete("/sites/{id}")]
pub async fn delete_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&auth, &services, &path, SiteAction::Delete).await
}

macro_rules! site_action {
    ($(#[$doc:meta])* $name:ident, $route:literal, $action:expr, $summary:literal) => {
        $(#[$doc])*
        #[utoipa::path(post, path = concat!("/api/v1", $route), tag = "sites", security(("bearer" = [])),
            params(("id" = String, Path, description = "Site id")),
            responses(
                (status = 202, description = $summary, body = AcceptedResponse),
                (status = 403, description = "`FORBIDDEN` (viewer), `INSUFFICIENT_ABILITY`, `TENANT_NOT_ACTIVE` (a suspended tenant may only disable or delete its sites)", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "`INVALID_STATE`, `OPERATION_IN_PROGRESS`", body = Problem, content_type = "application/problem+json")))]
        #[post($route)]
        pub async fn $name(
            auth: Auth,
            services: web::Data<Services>,
            path: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            act(&auth, &services, &path, $action).await
        }
    };
}

site_action!(
    /// Serves a disabled site again.
    enable_site, "/sites/{id}/enable", SiteAction::Enable, "Accepted: the vhost goes back on");
site_action!(
    /// Stops serving the site (files and database kept).
    disable_site, "/sites/{id}/disable", SiteAction::Disable, "Accepted: the vhost goes off");
site_action!(
    /// Re-runs a failed provisioning.
    retry_site, "/sites/{id}/retry", SiteAction::Retry, "Accepted: provisioning again");
site_action!(
    /// Obtains a Let's Encrypt certificate (ACME HTTP-01) and serves the site over HTTPS.
    issue_ssl, "/sites/{id}/ssl", SiteAction::SslIssue, "Accepted: certificate requested");
site_action!(
    /// Renews the site's certificate now.
    renew_ssl, "/sites/{id}/ssl/renew", SiteAction::SslRenew, "Accepted: renewal requested");
site_action!(
    /// Clears the application's caches.
    clear_cache, "/sites/{id}/cache/clear", SiteAction::CacheClear, "Accepted");
site_action!(
    /// Dumps the database into the site's `backups/` directory.
    export_database, "/sites/{id}/database/export", SiteAction::DbExport, "Accepted");
site_action!(
    /// Optimizes the database's tables.
    optimize_database, "/sites/{id}/database/optimize", SiteAction::DbOptimize, "Accepted");
