//! The public plan catalogue.

use crate::error::{ApiError, Problem};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_tenancy::Plan;
use serde::Serialize;
use utoipa::ToSchema;

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
    /// API requests per token per minute (`RateLimit-*` headers show what is left).
    pub api_requests_per_minute: i32,
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
            api_requests_per_minute: p.api_requests_per_minute,
        }
    }
}

/// `{"data": [plans]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// Plans on offer, cheapest first.
    pub data: Vec<PlanView>,
}

/// Plans on offer, cheapest first. Public.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", operation_id = "list_plans",
    responses(
        (status = 200, description = "Plans on offer", body = PlanList),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json")))]
#[get("/plans")]
pub async fn list_plans(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let plans = services.plans.list().await?;
    Ok(HttpResponse::Ok().json(PlanList {
        data: plans
            .into_iter()
            .filter(|p| p.is_active)
            .map(PlanView::from)
            .collect(),
    }))
}
