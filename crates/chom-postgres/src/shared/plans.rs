//! The plan catalogue on PostgreSQL.

use crate::error::map_err;
use crate::store::PgUnitOfWork;
use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::store::{UnitOfWork, downcast_uow};
use chom_tenancy::{Plan, PlanCode, PlanRepository};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

macro_rules! columns {
    () => {
        "code, name, price_monthly_cents, max_sites, max_storage_gb, backup_retention_days, api_requests_per_minute, is_active"
    };
}

fn plan(row: &PgRow) -> Result<Plan, StoreError> {
    let code: String = row.try_get("code").map_err(map_err)?;
    Ok(Plan {
        code: PlanCode::parse(&code).map_err(|e| StoreError::Unexpected(e.into()))?,
        name: row.try_get("name").map_err(map_err)?,
        price_monthly_cents: row.try_get("price_monthly_cents").map_err(map_err)?,
        max_sites: row.try_get("max_sites").map_err(map_err)?,
        max_storage_gb: row.try_get("max_storage_gb").map_err(map_err)?,
        backup_retention_days: row.try_get("backup_retention_days").map_err(map_err)?,
        api_requests_per_minute: row.try_get("api_requests_per_minute").map_err(map_err)?,
        is_active: row.try_get("is_active").map_err(map_err)?,
    })
}

/// `PlanRepository` on PostgreSQL.
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

#[async_trait]
impl PlanRepository for PgPlanRepository {
    async fn list(&self) -> Result<Vec<Plan>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM plans ORDER BY price_monthly_cents, code"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(plan).collect()
    }

    async fn find(&self, code: &PlanCode) -> Result<Option<Plan>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM plans WHERE code = $1"
        ))
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(plan).transpose()
    }

    async fn save(&self, uow: &mut dyn UnitOfWork, p: &Plan) -> Result<(), StoreError> {
        let uow = downcast_uow::<PgUnitOfWork>(uow)?;
        sqlx::query(
            "INSERT INTO plans (code, name, price_monthly_cents, max_sites, max_storage_gb,
                                backup_retention_days, is_active, api_requests_per_minute)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                 price_monthly_cents = EXCLUDED.price_monthly_cents,
                 max_sites = EXCLUDED.max_sites, max_storage_gb = EXCLUDED.max_storage_gb,
                 backup_retention_days = EXCLUDED.backup_retention_days,
                 api_requests_per_minute = EXCLUDED.api_requests_per_minute,
                 is_active = EXCLUDED.is_active, updated_at = now()",
        )
        .bind(p.code.as_str())
        .bind(&p.name)
        .bind(p.price_monthly_cents)
        .bind(p.max_sites)
        .bind(p.max_storage_gb)
        .bind(p.backup_retention_days)
        .bind(p.is_active)
        .bind(p.api_requests_per_minute)
        .execute(uow.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
