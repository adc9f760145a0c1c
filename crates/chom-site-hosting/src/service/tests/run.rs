//! Running an operation over the in-memory fakes: a re-run after a crash or a transient
//! failure continues where the last attempt stopped, and the outcome lands on the operation
//! and the site.

use crate::model::{Operation, OperationStatus, SiteStatus, StepStatus};
use crate::service::{JobOutcome, OperationJob};
use crate::testing::{Answer, World};
use chom_tenancy::model::TenantStatus;
use time::OffsetDateTime;

fn job(w: &World, op: &Operation) -> OperationJob {
    OperationJob {
        tenant_id: w.tenant,
        operation_id: op.id,
        php_version: None,
    }
}

/// A provisioning whose first step (`site.create`) was recorded done before the worker died.
fn provisioning_after_a_crash(w: &World, ssl: bool) -> (crate::model::Site, Operation) {
    let site = w.site(SiteStatus::Creating);
    let mut steps = vec!["site.create", "app.install"];
    if ssl {
        steps.push("ssl.issue");
    }
    let mut op = Operation::new(w.tenant, Some(site.id), "provision", &steps);
    let t = OffsetDateTime::now_utc();
    op.start("site.create", t);
    op.finish("site.create", t);
    w.operation(op.clone());
    (site, op)
}

fn step_status(op: &Operation, name: &str) -> StepStatus {
    op.steps
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.status)
        .expect("the step exists")
}

#[tokio::test]
async fn a_rerun_after_a_crash_skips_the_steps_already_done() {
    let w = World::new();
    let (site, op) = provisioning_after_a_crash(&w, false);
    w.sites
        .run_operation(&job(&w, &op), false)
        .await
        .expect("runs");
    // `site.create` is not sent again (the fake would answer it without database
    // credentials, which fails the step).
    assert_eq!(w.agent.calls(), ["app.install"]);
    let after = w.committed();
    let (op, _) = &after.operations[&op.id];
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(after.sites[&site.id].status, SiteStatus::Active);
}

#[tokio::test]
async fn a_transient_failure_is_retried_from_the_failed_step() {
    let w = World::new();
    let (site, op) = provisioning_after_a_crash(&w, true);
    w.agent.then("app.install", Answer::Unreachable);
    let first = w.sites.run_operation(&job(&w, &op), false).await;
    assert!(matches!(first, Err(JobOutcome::Retry(_))), "{first:?}");
    let after = w.committed();
    let (saved, _) = &after.operations[&op.id];
    assert_eq!(saved.status, OperationStatus::Running);
    assert_eq!(step_status(saved, "site.create"), StepStatus::Done);
    assert_ne!(step_status(saved, "app.install"), StepStatus::Done);
    assert!(
        saved
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("app.install: SERVER_UNREACHABLE")),
        "{:?}",
        saved.error
    );
    assert_eq!(after.sites[&site.id].status, SiteStatus::Creating);

    w.agent.then(
        "ssl.issue",
        Answer::Ok(serde_json::json!({"expires_at": "2030-01-01T00:00:00Z"})),
    );
    w.sites
        .run_operation(&job(&w, &op), false)
        .await
        .expect("the second attempt runs");
    assert_eq!(w.agent.calls(), ["app.install", "app.install", "ssl.issue"]);
    let after = w.committed();
    let (saved, _) = &after.operations[&op.id];
    assert_eq!(saved.status, OperationStatus::Succeeded);
    assert!(saved.steps.iter().all(|s| s.status == StepStatus::Done));
    let site = &after.sites[&site.id];
    assert_eq!(site.status, SiteStatus::Active);
    assert!(site.ssl_enabled);
    assert_eq!(
        site.ssl_expires_at.map(OffsetDateTime::unix_timestamp),
        Some(1_893_456_000),
        "the certificate's expiry is recorded"
    );
}

#[tokio::test]
async fn on_the_last_attempt_a_transient_failure_fails_the_provisioning() {
    let w = World::new();
    let (site, op) = provisioning_after_a_crash(&w, false);
    w.agent.then("app.install", Answer::Unreachable);
    w.sites
        .run_operation(&job(&w, &op), true)
        .await
        .expect("the failure is recorded, not retried");
    let after = w.committed();
    let (saved, _) = &after.operations[&op.id];
    assert_eq!(saved.status, OperationStatus::Failed);
    assert_eq!(step_status(saved, "app.install"), StepStatus::Failed);
    let site = &after.sites[&site.id];
    assert_eq!(site.status, SiteStatus::Failed);
    assert!(
        site.status_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("app.install: SERVER_UNREACHABLE")),
        "{:?}",
        site.status_reason
    );
}

#[tokio::test]
async fn a_refused_certificate_leaves_the_site_served_over_http() {
    let w = World::new();
    let (site, op) = provisioning_after_a_crash(&w, true);
    w.agent.then("ssl.issue", Answer::Refused);
    w.sites
        .run_operation(&job(&w, &op), false)
        .await
        .expect("a refusal is not retried");
    assert_eq!(w.agent.calls(), ["app.install", "ssl.issue"]);
    let after = w.committed();
    assert_eq!(after.operations[&op.id].0.status, OperationStatus::Failed);
    let site = &after.sites[&site.id];
    assert_eq!(site.status, SiteStatus::Active);
    assert!(!site.ssl_enabled);
}

#[tokio::test]
async fn an_operation_that_already_ended_is_not_run_again() {
    let w = World::new();
    let (_, mut op) = provisioning_after_a_crash(&w, false);
    op.fail("app.install", "reaped", OffsetDateTime::now_utc());
    w.operation(op.clone());
    w.sites
        .run_operation(&job(&w, &op), false)
        .await
        .expect("nothing to do");
    assert!(w.agent.calls().is_empty());
    assert_eq!(w.committed().operations[&op.id].0, op);
}

#[tokio::test]
async fn a_site_enabled_while_its_tenant_was_suspended_is_taken_down_again() {
    let w = World::new();
    let site = w.site(SiteStatus::Disabled);
    let op = Operation::new(w.tenant, Some(site.id), "enable", &["site.enable"]);
    w.operation(op.clone());
    // Suspended after the request was accepted: the cascade skipped the busy site.
    w.set_tenant_status(TenantStatus::Suspended);
    w.sites
        .run_operation(&job(&w, &op), false)
        .await
        .expect("runs");
    assert_eq!(w.agent.calls(), ["site.enable", "site.disable"]);
    let site = &w.committed().sites[&site.id];
    assert_eq!(site.status, SiteStatus::Disabled);
    assert!(site.suspended_active);
}
