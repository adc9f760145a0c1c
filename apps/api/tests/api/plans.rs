use crate::helpers::{Db, spawn_app};

async fn the_plan_catalogue_is_public(db: Db) {
    let app = spawn_app(db).await;
    let res = app.get("/api/v1/plans").await;
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let plans = body["data"].as_array().unwrap();
    let codes: Vec<_> = plans.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["starter", "pro", "enterprise"]);
    assert_eq!(plans[0]["max_sites"], 5);
    assert_eq!(plans[0]["price_monthly_cents"], 2900);
    assert!(plans[2]["max_sites"].is_null());
}

crate::both_backends!(the_plan_catalogue_is_public);
