//! The plan catalogue (tenancy's `PlanRepository`).

use crate::codec::{DbRow, get, ts};
use crate::shared::exec::{corrupt, execute, fetch_all, fetch_opt, tx};
use crate::store::PgStore;
use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::store::UnitOfWork;
use chom_tenancy::{Plan, PlanCode, PlanRepository};
use sqlx::PgPool;
use time::OffsetDateTime;

macro_rules! columns {
    () => {
        "code, name, price_monthly_cents, max_sites, max_storage_gb, backup_retention_days, \
         keep_daily, keep_weekly, keep_monthly, api_requests_per_minute, max_members, is_active"
    };
}

fn plan(row: &DbRow) -> Result<Plan, StoreError> {
    Ok(Plan {
        code: PlanCode::parse(&get::<String>(row, "code")?).map_err(corrupt)?,
        name: get(row, "name")?,
        price_monthly_cents: get(row, "price_monthly_cents")?,
        max_sites: get(row, "max_sites")?,
        max_storage_gb: get(row, "max_storage_gb")?,
        backup_retention_days: get(row, "backup_retention_days")?,
        keep_daily: get(row, "keep_daily")?,
        keep_weekly: get(row, "keep_weekly")?,
        keep_monthly: get(row, "keep_monthly")?,
        api_requests_per_minute: get(row, "api_requests_per_minute")?,
        max_members: get(row, "max_members")?,
        is_active: get(row, "is_active")?,
    })
}

/// The plan catalogue.
#[derive(Debug, Clone)]
pub struct PgPlanRepository {
    pool: PgPool,
}

impl PgPlanRepository {
    /// A repository on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl PgStore {
    /// The plan catalogue on this database (the same as `PgPlanRepository::new(pool)`). Declared
    /// here, beside the repository, so that the store does not depend on its repositories.
    #[must_use]
    pub fn plans(&self) -> PgPlanRepository {
        PgPlanRepository::new(self.pool().clone())
    }
}

#[async_trait]
impl PlanRepository for PgPlanRepository {
    async fn list(&self) -> Result<Vec<Plan>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM plans ORDER BY price_monthly_cents, code"
        ));
        fetch_all(select, &self.pool, plan).await
    }

    async fn find(&self, code: &PlanCode) -> Result<Option<Plan>, StoreError> {
        let select = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM plans WHERE code = $1"
        ))
        .bind(code.as_str());
        fetch_opt(select, &self.pool, plan).await
    }

    async fn save(&self, uow: &mut dyn UnitOfWork, p: &Plan) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO plans (code, name, price_monthly_cents, max_sites, max_storage_gb,
                                backup_retention_days, is_active, api_requests_per_minute,
                                max_members, keep_daily, keep_weekly, keep_monthly)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $12, $13)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                 price_monthly_cents = EXCLUDED.price_monthly_cents,
                 max_sites = EXCLUDED.max_sites, max_storage_gb = EXCLUDED.max_storage_gb,
                 backup_retention_days = EXCLUDED.backup_retention_days,
                 api_requests_per_minute = EXCLUDED.api_requests_per_minute,
                 max_members = EXCLUDED.max_members,
                 keep_daily = EXCLUDED.keep_daily, keep_weekly = EXCLUDED.keep_weekly,
                 keep_monthly = EXCLUDED.keep_monthly,
                 is_active = EXCLUDED.is_active, updated_at = $9",
        )
        .bind(p.code.as_str())
        .bind(&p.name)
        .bind(p.price_monthly_cents)
        .bind(p.max_sites)
        .bind(p.max_storage_gb)
        .bind(p.backup_retention_days)
        .bind(p.is_active)
        .bind(p.api_requests_per_minute)
        .bind(ts(OffsetDateTime::now_utc()))
        .bind(p.max_members)
        .bind(p.keep_daily)
        .bind(p.keep_weekly)
        .bind(p.keep_monthly);
        execute(upsert, tx(uow)?.conn()).await.map(drop)
    }
}
