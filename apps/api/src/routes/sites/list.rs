//! Reading sites: the tenant's list (filtered, cursor-paged) and one site.

use super::views::{SiteDetail, SiteList, SiteResponse, SiteView};
use super::{reader, site_id};
use crate::error::{ApiError, Problem};
use crate::extract::Auth;
use crate::routes::paging::{Page, PageMeta};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_agent_protocol::SiteType;
use chom_kernel::SiteId;
use chom_site_hosting::{SiteFilter, SiteStatus};
use serde::Deserialize;
use utoipa::IntoParams;

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this type (`wordpress`, `html`, `laravel`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub site_type: Option<String>,
    /// Domain contains this.
    pub search: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

fn filter(q: ListQuery) -> Result<SiteFilter, ApiError> {
    let mut errors = Vec::new();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => SiteStatus::parse(s)
            .map_err(|_| {
                errors.push((
                    "status",
                    "INVALID_VALUE",
                    format!("{s:?} is not a site status"),
                ))
            })
            .ok(),
    };
    let site_type = match q.site_type.as_deref() {
        None => None,
        Some(t) => SiteType::parse(t)
            .map_err(|e| errors.push(("type", "INVALID_VALUE", e.0)))
            .ok(),
    };
    if let Some(s) = &q.search
        && s.len() > 253
    {
        errors.push(("search", "INVALID_VALUE", "at most 253 characters".into()));
    }
    let mut errors = ApiError::field_errors(errors);
    let page = Page::<SiteId>::collect(q.cursor.as_deref(), q.limit, &mut errors);
    let Some(page) = page.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    Ok(SiteFilter {
        status,
        site_type,
        search: q
            .search
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        before: page.cursor,
        limit: page.limit,
    })
}

/// The tenant's sites, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of sites", body = SiteList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad filter", body = Problem, content_type = "application/problem+json")))]
#[get("/sites")]
pub async fn list_sites(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = reader(&auth)?;
    let f = filter(query.into_inner())?;
    let sites = services.sites.list(ctx, &f).await?;
    Ok(HttpResponse::Ok().json(SiteList {
        meta: PageMeta::after(&sites, f.limit, |s| s.id.to_string()),
        data: sites.iter().map(SiteView::from).collect(),
    }))
}

/// One site, with the address its DNS must point to.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id")),
    responses((status = 200, description = "The site", body = SiteResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}")]
pub async fn get_site(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = reader(&auth)?;
    let site = services.sites.get(ctx, site_id(&path)?).await?;
    let ip_address = services
        .fleet
        .get(site.vps_id)
        .await
        .ok()
        .map(|v| v.ip_address);
    Ok(HttpResponse::Ok().json(SiteResponse {
        data: SiteDetail {
            site: SiteView::from(&site),
            ip_address,
        },
    }))
}
