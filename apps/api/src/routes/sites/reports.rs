//! What the server reports about a site (info, certificate) and its database credentials.

use super::views::{
    AgentReportResponse, Credentials, CredentialsResponse, SiteAgentAnswer, SiteView,
};
use super::{reader, site_id};
use crate::error::{ApiError, Problem};
use crate::extract::Auth;
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_agent_protocol::Command;
use chom_auth::Ability;

async fn report(
    auth: &Auth,
    services: &Services,
    raw: &str,
    command: fn(chom_agent_protocol::SiteRef) -> Command,
) -> Result<HttpResponse, ApiError> {
    let ctx = reader(auth)?;
    let (site, report) = services.sites.ask(ctx, site_id(raw)?, command).await?;
    Ok(HttpResponse::Ok().json(AgentReportResponse {
        data: SiteAgentAnswer {
            site: SiteView::from(&site),
            report,
        },
    }))
}

/// What the server reports about the site (serving, disk usage, pool).
#[utoipa::path(get, path = "/api/v1/sites/{id}/info", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The server's report", body = AgentReportResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: the site is `creating` or `failed`; `HOST_KEY_NOT_TRUSTED`: its server is not set up yet", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`: its server could not be asked", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/info")]
pub async fn site_info(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report(&auth, &services, &path, Command::SiteInfo).await
}

/// The site's certificate as the server sees it (issuer, expiry, days left).
#[utoipa::path(get, path = "/api/v1/sites/{id}/ssl", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The certificate", body = AgentReportResponse),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`INVALID_STATE`: the site is `creating` or `failed`; `HOST_KEY_NOT_TRUSTED`: its server is not set up yet", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`HOST_KEY_MISMATCH`, `VPS_UNREACHABLE`, `AGENT_ERROR`: its server could not be asked", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/ssl")]
pub async fn ssl_status(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report(&auth, &services, &path, Command::SslStatus).await
}

/// The site's database credentials (needs a token with `read:sensitive`, and a role that may
/// manage sites: viewers do not see secrets).
#[utoipa::path(get, path = "/api/v1/sites/{id}/database/credentials", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "Credentials", body = CredentialsResponse),
        (status = 403, description = "`INSUFFICIENT_ABILITY`: the token lacks `read:sensitive`; `FORBIDDEN`: a viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`NO_DATABASE`: not provisioned yet", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/database/credentials")]
pub async fn database_credentials(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::ReadSensitive)?;
    // Secrets are for those who may change the site, not for viewers.
    auth.authorize(chom_team::Action::ManageSites)?;
    let ctx = reader(&auth)?;
    let (name, user, password) = services.sites.credentials(ctx, site_id(&path)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CredentialsResponse {
            data: Credentials {
                host: "localhost".into(),
                name,
                user,
                password,
            },
        }))
}
