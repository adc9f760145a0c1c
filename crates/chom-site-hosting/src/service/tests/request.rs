//! Requesting actions on a site, over the in-memory fakes: which action is allowed in which
//! site status, and what is written (or not) when it is refused.

use crate::Operation;
use crate::admission::Refusal;
use crate::model::{OperationStatus, SiteStatus};
use crate::service::{RUN_OPERATION, SiteAction, SiteError};
use crate::testing::World;
use SiteStatus::{Active, Creating, Deleting, Disabled, Failed, Restoring};
use chom_agent_protocol::PhpVersion;
use chom_kernel::{Role, TenantContext, TenantId, UserId};
use chom_tenancy::model::TenantStatus;

const STATUSES: [SiteStatus; 6] = [Creating, Active, Disabled, Failed, Deleting, Restoring];

/// Action, the statuses it is allowed in, the operation it records, and its steps (for a site
/// created without SSL).
const TABLE: [(SiteAction, &[SiteStatus], &str, &[&str]); 10] = [
    (SiteAction::Enable, &[Disabled], "enable", &["site.enable"]),
    (SiteAction::Disable, &[Active], "disable", &["site.disable"]),
    (
        SiteAction::Delete,
        &[Active, Disabled, Failed, Deleting],
        "delete",
        &["site.delete", "record.delete"],
    ),
    (
        SiteAction::SetPhp(PhpVersion::V83),
        &[Active, Disabled],
        "set_php",
        &["site.set_php"],
    ),
    (SiteAction::SslIssue, &[Active], "ssl_issue", &["ssl.issue"]),
    (SiteAction::SslRenew, &[Active], "ssl_renew", &["ssl.renew"]),
    (
        SiteAction::CacheClear,
        &[Active],
        "cache_clear",
        &["cache.clear"],
    ),
    (SiteAction::DbExport, &[Active], "db_export", &["db.export"]),
    (
        SiteAction::DbOptimize,
        &[Active],
        "db_optimize",
        &["db.optimize"],
    ),
    (
        SiteAction::Retry,
        &[Failed],
        "provision",
        &["site.create", "app.install"],
    ),
];

fn conflict_code(e: &SiteError) -> Option<&'static str> {
    match e {
        SiteError::Conflict(code, _) => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn each_action_is_allowed_only_in_its_site_statuses() {
    for (action, allowed, kind, steps) in TABLE {
        for status in STATUSES {
            let w = World::new();
            let site = w.site(status);
            let result = w
                .sites
                .request(
                    &w.member(Role::Admin),
                    site.id,
                    action,
                    Some("req-1".into()),
                )
                .await;
            let after = w.committed();
            let case = format!("{action:?} on a {} site", status.as_str());
            if !allowed.contains(&status) {
                let e = result.expect_err(&case);
                assert_eq!(conflict_code(&e), Some("INVALID_STATE"), "{case}: {e:?}");
                assert!(
                    after.operations.is_empty() && after.jobs.is_empty(),
                    "{case}"
                );
                assert_eq!(after.sites[&site.id], site, "{case}: the site changed");
                assert!(w.trail.events().is_empty(), "{case}: a refusal was audited");
                continue;
            }
            let (returned, op) = result.unwrap_or_else(|e| panic!("{case}: {e:?}"));
            let names: Vec<&str> = op.steps.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(
                (op.kind.as_str(), names.as_slice()),
                (kind, steps),
                "{case}"
            );
            assert_eq!(op.status, OperationStatus::Pending, "{case}");
            // The operation and its job are committed together, the job naming the operation.
            let (stored, job_id) = &after.operations[&op.id];
            assert_eq!(stored, &op, "{case}");
            let [job] = after.jobs.as_slice() else {
                panic!("{case}: one job expected, got {:?}", after.jobs);
            };
            assert_eq!(*job_id, Some(job.id), "{case}");
            assert_eq!(job.job.kind, RUN_OPERATION, "{case}");
            assert_eq!(job.job.tenant_id, Some(w.tenant), "{case}");
            assert_eq!(job.job.request_id.as_deref(), Some("req-1"), "{case}");
            assert_eq!(
                job.job.payload["operation_id"],
                serde_json::json!(op.id),
                "{case}"
            );
            let php = &job.job.payload["php_version"];
            match action {
                SiteAction::SetPhp(_) => assert_eq!(php, "8.3", "{case}"),
                _ => assert!(php.is_null(), "{case}"),
            }
            // Only a deletion and a retry change the site's status at once.
            let expected = match action {
                SiteAction::Delete => Deleting,
                SiteAction::Retry => Creating,
                _ => status,
            };
            assert_eq!(returned.status, expected, "{case}");
            assert_eq!(after.sites[&site.id].status, expected, "{case}");
            // Audited once, in the same unit: who, what, on which site, which operation.
            let [event] = w
                .trail
                .events()
                .try_into()
                .unwrap_or_else(|e| panic!("{case}: one audit event expected, got {e:?}"));
            assert_eq!(
                (event.action, event.target_type, event.tenant_id),
                (action.audit_action(), "site", Some(w.tenant)),
                "{case}"
            );
            assert_eq!(event.target_id, Some(site.id.to_string()), "{case}");
            assert_eq!(
                event.summary["operation_id"],
                serde_json::json!(op.id),
                "{case}"
            );
            assert_eq!(event.summary["operation"], kind, "{case}");
        }
    }
}

#[tokio::test]
async fn an_operation_in_flight_blocks_every_action_in_every_status() {
    for (action, ..) in TABLE {
        for status in STATUSES {
            let w = World::new();
            let site = w.site(status);
            let running = Operation::new(w.tenant, Some(site.id), "enable", &["site.enable"]);
            w.operation(running.clone());
            let e = w
                .sites
                .request(&w.member(Role::Admin), site.id, action, None)
                .await
                .expect_err("refused");
            let case = format!("{action:?} on a {} site", status.as_str());
            assert_eq!(
                conflict_code(&e),
                Some("OPERATION_IN_PROGRESS"),
                "{case}: {e:?}"
            );
            assert!(
                e.to_string().contains(&running.id.to_string()),
                "{case}: {e}"
            );
            let after = w.committed();
            assert_eq!(after.operations.len(), 1, "{case}");
            assert!(after.jobs.is_empty(), "{case}");
            assert_eq!(after.sites[&site.id], site, "{case}");
        }
    }
}

#[tokio::test]
async fn an_ended_operation_blocks_nothing() {
    for end in [OperationStatus::Succeeded, OperationStatus::Failed] {
        let w = World::new();
        let site = w.site(Active);
        let mut done = Operation::new(w.tenant, Some(site.id), "enable", &["site.enable"]);
        done.status = end;
        w.operation(done);
        w.sites
            .request(&w.member(Role::Admin), site.id, SiteAction::Disable, None)
            .await
            .unwrap_or_else(|e| panic!("after a {end:?} operation: {e:?}"));
    }
}

#[tokio::test]
async fn switching_to_the_php_version_it_runs_is_an_invalid_state() {
    let w = World::new();
    let site = w.site(Active);
    let e = w
        .sites
        .request(
            &w.member(Role::Admin),
            site.id,
            SiteAction::SetPhp(site.php_version),
            None,
        )
        .await
        .expect_err("refused");
    assert_eq!(conflict_code(&e), Some("INVALID_STATE"), "{e:?}");
    assert!(w.committed().operations.is_empty());
}

#[tokio::test]
async fn a_suspended_tenant_may_only_take_its_sites_down() {
    for tenant_status in [TenantStatus::Suspended, TenantStatus::Cancelled] {
        for (action, allowed, ..) in TABLE {
            let w = World::new();
            w.set_tenant_status(tenant_status);
            let site = w.site(allowed[0]);
            let result = w
                .sites
                .request(&w.member(Role::Admin), site.id, action, None)
                .await;
            let case = format!("{action:?} for a {} tenant", tenant_status.as_str());
            if matches!(action, SiteAction::Delete | SiteAction::Disable) {
                result.unwrap_or_else(|e| panic!("{case}: {e:?}"));
            } else {
                let e = result.expect_err(&case);
                assert!(
                    matches!(e, SiteError::Refused(Refusal::TenantNotActive)),
                    "{case}: {e:?}"
                );
                assert!(w.committed().operations.is_empty(), "{case}");
            }
        }
    }
}

#[tokio::test]
async fn a_viewer_may_not_request_anything_and_another_tenant_sees_nothing() {
    let w = World::new();
    let site = w.site(Active);
    let e = w
        .sites
        .request(&w.member(Role::Viewer), site.id, SiteAction::Disable, None)
        .await
        .expect_err("refused");
    assert!(matches!(e, SiteError::Forbidden(_)), "{e:?}");
    let stranger = TenantContext::authenticated(
        chom_kernel::OrganizationId::new(),
        TenantId::new(),
        UserId::new(),
        Role::Owner,
    );
    let e = w
        .sites
        .request(&stranger, site.id, SiteAction::Disable, None)
        .await
        .expect_err("refused");
    assert!(matches!(e, SiteError::NotFound), "{e:?}");
}

#[tokio::test]
async fn members_operate_sites_and_only_admins_and_owners_delete_them() {
    for (role, operates, deletes) in [
        (Role::Viewer, false, false),
        (Role::Member, true, false),
        (Role::Admin, true, true),
        (Role::Owner, true, true),
    ] {
        let w = World::new();
        let site = w.site(Active);
        let disable = w
            .sites
            .request(&w.member(role), site.id, SiteAction::Disable, None)
            .await;
        assert_eq!(disable.is_ok(), operates, "{role:?} disable: {disable:?}");
        let w = World::new();
        let site = w.site(Active);
        let delete = w
            .sites
            .request(&w.member(role), site.id, SiteAction::Delete, None)
            .await;
        assert_eq!(delete.is_ok(), deletes, "{role:?} delete: {delete:?}");
        if !deletes {
            assert!(matches!(delete, Err(SiteError::Forbidden(_))), "{delete:?}");
            assert!(w.committed().operations.is_empty() && w.trail.events().is_empty());
        }
    }
}
