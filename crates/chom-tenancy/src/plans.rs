//! The plan catalogue: what each tier allows and costs.

use async_trait::async_trait;
use chom_kernel::StoreError;
use chom_kernel::store::UnitOfWork;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A plan's code: lowercase ASCII letters, digits and `-`, 1 to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlanCode(String);

/// Why a string is not a plan code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a plan code is 1 to 50 lowercase letters, digits or '-', got {0:?}")]
pub struct PlanCodeError(pub String);

impl PlanCode {
    /// Parses a plan code.
    ///
    /// # Errors
    /// The string is empty, too long, or has other characters.
    pub fn parse(raw: &str) -> Result<Self, PlanCodeError> {
        let ok = !raw.is_empty()
            && raw.len() <= 50
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PlanCodeError(raw.to_owned()))
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlanCode {
    type Error = PlanCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PlanCode> for String {
    fn from(c: PlanCode) -> Self {
        c.0
    }
}

impl fmt::Display for PlanCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tier: limits (`None` = unlimited) and monthly price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Stable code (`starter`).
    pub code: PlanCode,
    /// Display name.
    pub name: String,
    /// Monthly price in cents (USD).
    pub price_monthly_cents: i64,
    /// Sites allowed.
    pub max_sites: Option<i32>,
    /// Storage allowed, GB.
    pub max_storage_gb: Option<i32>,
    /// Days backups are kept.
    pub backup_retention_days: i32,
    /// Beyond those days, the newest backup of each of this many most recent days (weeks,
    /// months) that have one is kept too.
    pub keep_daily: i32,
    /// See `keep_daily`: ISO weeks.
    pub keep_weekly: i32,
    /// See `keep_daily`: calendar months.
    pub keep_monthly: i32,
    /// API requests per token per minute.
    pub api_requests_per_minute: i32,
    /// Seats: members plus open invitations (`None`: unlimited).
    pub max_members: Option<i32>,
    /// Offered to new customers.
    pub is_active: bool,
}

impl Plan {
    /// Whether a tenant with `current` sites may add one more.
    #[must_use]
    pub fn allows_another_site(&self, current: i64) -> bool {
        self.max_sites.is_none_or(|max| current < i64::from(max))
    }
}

/// Storage of the plan catalogue.
#[async_trait]
pub trait PlanRepository: Send + Sync {
    /// Every plan, cheapest first.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn list(&self) -> Result<Vec<Plan>, StoreError>;

    /// One plan by code; `None` when there is none.
    ///
    /// # Errors
    /// `Unavailable`, `Unexpected`.
    async fn find(&self, code: &PlanCode) -> Result<Option<Plan>, StoreError>;

    /// Creates or replaces a plan inside `uow`.
    ///
    /// # Errors
    /// `Unexpected` when `uow` belongs to another backend; `Unavailable`.
    async fn save(&self, uow: &mut dyn UnitOfWork, plan: &Plan) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_codes_are_validated() {
        for ok in ["starter", "pro", "enterprise-2026", "a"] {
            assert!(PlanCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Starter", "pro plan", "x;drop", &"a".repeat(51)] {
            assert!(PlanCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unlimited_plans_allow_any_number_of_sites() {
        let mut plan = Plan {
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
        };
        assert!(plan.allows_another_site(4));
        assert!(!plan.allows_another_site(5));
        plan.max_sites = None;
        assert!(plan.allows_another_site(1_000_000));
    }
}
