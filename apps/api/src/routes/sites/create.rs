//! Creating a site: the checks, the placement, then provisioning in the background (202).

use super::views::{AcceptedResponse, accepted};
use super::writer;
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::request_id::current_request_id;
use crate::wiring::Services;
use actix_web::{HttpResponse, post, web};
use chom_site_hosting::CreateSite;
use serde::Deserialize;
use utoipa::ToSchema;

/// A site to create. Every field is read leniently so that every invalid one is reported at
/// once (422 `VALIDATION_FAILED` with `errors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"domain": "shop.example.com", "site_type": "wordpress", "php_version": "8.3", "ssl": true}))]
pub struct CreateSiteRequest {
    /// Domain (`shop.example.com`): at least two labels of letters, digits and `-` (not at
    /// either end), 1 to 63 characters each, the last of 2 or more letters; 253 characters in
    /// all (stored lower-cased).
    #[serde(default)]
    #[schema(
        required = true,
        max_length = 253,
        pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$",
        example = "shop.example.com"
    )]
    pub domain: String,
    /// `wordpress` (default), `html`, `laravel`.
    #[schema(nullable = false, default = "wordpress")]
    pub site_type: Option<String>,
    /// `8.2` (default), `8.3`, `8.4`.
    #[schema(nullable = false, default = "8.2")]
    pub php_version: Option<String>,
    /// Obtain a Let's Encrypt certificate once provisioned.
    #[serde(default)]
    #[schema(default = false)]
    pub ssl: bool,
}

/// Creates a site: checks the role, the tenant (active, approved, plan selected), the plan's
/// quota, the fields, then places it on a server with room. Answers 202: the provisioning runs
/// in the background (follow the operation).
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), request_body = CreateSiteRequest,
    responses(
        (status = 202, description = "Accepted: the site (`creating`) and its provisioning operation", body = AcceptedResponse),
        (status = 403, description = "`FORBIDDEN` (role), `TENANT_NOT_ACTIVE`, `ACCOUNT_PENDING_APPROVAL`, `PLAN_NOT_SELECTED`, `SITE_LIMIT_EXCEEDED` (with `current` and `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`DOMAIN_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: domain, type or PHP version", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`NO_CAPACITY`: no server has room", body = Problem, content_type = "application/problem+json")))]
#[post("/sites")]
pub async fn create_site(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<CreateSiteRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = writer(&auth)?;
    let b = body.0;
    let (site, op) = services
        .sites
        .create(
            ctx,
            CreateSite {
                domain: b.domain,
                site_type: b.site_type,
                php_version: b.php_version,
                ssl: b.ssl,
            },
            current_request_id(),
        )
        .await?;
    Ok(accepted(&site, &op))
}
