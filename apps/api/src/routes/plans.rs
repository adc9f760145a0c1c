//! The public plan catalogue.

use crate::error::{ApiError, Problem};
use crate::routes::paging::{PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_tenancy::Plan;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_plans);
}

/// A plan as shown to customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Stable code, used to select the plan.
    #[schema(example = "starter")]
    pub code: String,
    /// Display name.
    pub name: String,
    /// Monthly price in cents.
    #[schema(example = 2900)]
    pub price_monthly_cents: i64,
    /// ISO 4217 currency.
    #[schema(example = "usd")]
    pub currency: &'static str,
    /// Sites allowed; `null` means unlimited.
    pub max_sites: Option<i32>,
    /// Storage allowed in GB; `null` means unlimited.
    pub max_storage_gb: Option<i32>,
    /// Days backups are kept.
    pub backup_retention_days: i32,
    /// Beyond those days, the newest backup of each of this many most recent days that have
    /// one is kept too.
    pub keep_daily: i32,
    /// The same, for ISO weeks.
    pub keep_weekly: i32,
    /// The same, for calendar months.
    pub keep_monthly: i32,
    /// API requests per token per minute (`RateLimit-*` headers show what is left).
    pub api_requests_per_minute: i32,
    /// Seats: members plus open invitations; `null` means unlimited.
    pub max_members: Option<i32>,
}

impl From<Plan> for PlanView {
    fn from(p: Plan) -> Self {
        Self {
            code: p.code.to_string(),
            name: p.name,
            price_monthly_cents: p.price_monthly_cents,
            currency: "usd",
            max_sites: p.max_sites,
            max_storage_gb: p.max_storage_gb,
            backup_retention_days: p.backup_retention_days,
            keep_daily: p.keep_daily,
            keep_weekly: p.keep_weekly,
            keep_monthly: p.keep_monthly,
            api_requests_per_minute: p.api_requests_per_minute,
            max_members: p.max_members,
        }
    }
}

/// `{"data": [plans], "meta": {…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// Plans on offer, cheapest first.
    pub data: Vec<PlanView>,
    /// Paging (the catalogue is small: one page unless `limit` asks for less).
    pub meta: PageMeta,
}

/// Plans on offer, cheapest first. Public. Pages like every list; the cursor is the code of
/// the last plan of the previous page.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", operation_id = "list_plans", params(PageQuery),
    responses(
        (status = 200, description = "Plans on offer", body = PlanList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/plans")]
pub async fn list_plans(
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page::<String>()?;
    let on_offer: Vec<Plan> = services
        .plans
        .list()
        .await?
        .into_iter()
        .filter(|p| p.is_active)
        .collect();
    // The catalogue is read whole (a handful of rows); the page is cut here.
    let start = match &page.cursor {
        None => 0,
        Some(code) => on_offer
            .iter()
            .position(|p| p.code.as_str() == code)
            .map(|i| i + 1)
            .ok_or_else(|| {
                ApiError::field("cursor", "INVALID_FORMAT", "not a cursor from this API")
            })?,
    };
    let plans: Vec<Plan> = on_offer
        .into_iter()
        .skip(start)
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(HttpResponse::Ok().json(PlanList {
        meta: PageMeta::after(&plans, page.limit, |p| p.code.to_string()),
        data: plans.into_iter().map(PlanView::from).collect(),
    }))
}
