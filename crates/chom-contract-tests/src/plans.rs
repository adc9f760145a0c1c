//! The `PlanRepository` contract.

use crate::Backend;
use chom_tenancy::{Plan, PlanCode};

fn code(s: &str) -> PlanCode {
    PlanCode::parse(s).expect("valid code")
}

/// The three tiers of the specification, cheapest first.
pub async fn the_catalogue_is_seeded_cheapest_first(b: &Backend) {
    let plans = b.plans.list().await.unwrap();
    let summary: Vec<_> = plans
        .iter()
        .map(|p| {
            (
                p.code.as_str(),
                p.price_monthly_cents,
                p.max_sites,
                p.backup_retention_days,
                p.api_requests_per_minute,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("starter", 2900, Some(5), 7, 60),
            ("pro", 7900, Some(25), 30, 300),
            ("enterprise", 24900, None, 90, 1200)
        ]
    );
    assert_eq!(plans[0].max_storage_gb, Some(10));
    assert_eq!(plans[2].max_storage_gb, None);
}

/// A missing plan is `None`, not an error.
pub async fn unknown_plans_are_none(b: &Backend) {
    assert!(b.plans.find(&code("platinum")).await.unwrap().is_none());
    assert_eq!(
        b.plans.find(&code("pro")).await.unwrap().unwrap().name,
        "Pro"
    );
}

/// `save` inserts or replaces, and only inside a committed unit of work.
pub async fn saves_are_upserts_inside_a_unit_of_work(b: &Backend) {
    let mut pro = b.plans.find(&code("pro")).await.unwrap().unwrap();
    pro.price_monthly_cents = 8900;
    let agency = Plan {
        code: code("agency"),
        name: "Agency".into(),
        price_monthly_cents: 14900,
        max_sites: Some(60),
        max_storage_gb: None,
        backup_retention_days: 60,
        keep_daily: 7,
        keep_weekly: 0,
        keep_monthly: 0,
        api_requests_per_minute: 240,
        max_members: Some(4),
        is_active: false,
    };

    let mut uow = b.store.begin().await.unwrap();
    b.plans.save(uow.as_mut(), &pro).await.unwrap();
    b.plans.save(uow.as_mut(), &agency).await.unwrap();
    uow.rollback().await.unwrap();
    assert_eq!(
        b.plans
            .find(&code("pro"))
            .await
            .unwrap()
            .unwrap()
            .price_monthly_cents,
        7900
    );
    assert!(b.plans.find(&code("agency")).await.unwrap().is_none());

    let mut uow = b.store.begin().await.unwrap();
    b.plans.save(uow.as_mut(), &pro).await.unwrap();
    b.plans.save(uow.as_mut(), &agency).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(b.plans.find(&code("pro")).await.unwrap().unwrap(), pro);
    assert_eq!(
        b.plans.find(&code("agency")).await.unwrap().unwrap(),
        agency
    );
    let codes: Vec<_> = b
        .plans
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.code.to_string())
        .collect();
    assert_eq!(codes, ["starter", "pro", "agency", "enterprise"]);
}
