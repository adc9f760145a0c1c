#![doc = include_str!("../README.md")]
// A test-support crate: panicking is how a contract reports a violation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod audit;
pub mod backups;
mod fixtures;
pub mod fleet;
pub mod idempotency;
pub mod identity;
pub mod plans;
pub mod queue;
pub mod sites;
pub mod team;

use chom_backup::ports::ScheduleRepository;
use chom_infrastructure::ports::VpsRepository;
use chom_kernel::jobs::JobQueue;
use chom_kernel::store::Store;
use chom_site_hosting::ports::SiteRepository;
use chom_tenancy::PlanRepository;
use std::sync::Arc;

/// Runs one SQL statement on a backend's database; panics when it fails.
pub type Sql = Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Everything a suite needs from one backend, on one fresh database.
pub struct Backend {
    /// Units of work.
    pub store: Arc<dyn Store>,
    /// Two queue handles on separate connection pools of the same database: two "workers".
    pub queues: [Arc<dyn JobQueue>; 2],
    /// The plan catalogue.
    pub plans: Arc<dyn PlanRepository>,
    /// The identity ports.
    pub identity: chom_tenancy::identity::IdentityPorts,
    /// The sites and operations (site hosting).
    pub sites: Arc<dyn SiteRepository>,
    /// The fleet (infrastructure).
    pub fleet: Arc<dyn VpsRepository>,
    /// Site backup schedules (backup).
    pub backups: Arc<dyn ScheduleRepository>,
    /// Appending to the audit log (kernel).
    pub audit: Arc<dyn chom_kernel::audit::AuditTrail>,
    /// Reading the audit log (team).
    pub audit_log: Arc<dyn chom_team::audit::AuditLog>,
    /// Invitations and ownership transfers (team).
    pub team: Arc<dyn chom_team::ports::TeamRepository>,
    /// Runs one SQL statement directly on the database (tampering, as an attacker with
    /// database access would).
    pub sql: Sql,
    /// Keeps the database alive for the test (temporary directory, test database).
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// Generates one `#[tokio::test]` per contract, each on a backend from `$setup`
/// (an `async fn() -> Backend`).
#[macro_export]
macro_rules! contract_tests {
    ($setup:ident) => {
        $crate::contract_tests!(@each $setup; queue:
            enqueue_in_a_rolled_back_unit_of_work_leaves_no_job,
            a_state_change_and_its_job_commit_or_vanish_together,
            unique_keys_deduplicate_jobs,
            completion_is_fenced_by_worker_and_attempt,
            an_expired_lease_is_rescued_and_the_job_runs_again,
            a_dead_worker_loses_its_lease_and_a_live_runner_reruns_the_job,
            failures_retry_with_growing_delay_then_go_dead_with_the_error,
            permanent_errors_bury_the_job_at_once,
            two_workers_drain_a_thousand_jobs_each_exactly_once,
            a_periodic_job_scheduled_twice_in_one_window_exists_once,
            shutdown_during_a_job_releases_it_and_another_worker_runs_it,
            shutdown_lets_a_short_job_finish,
            delayed_jobs_wait_for_their_time,
            pruning_removes_only_old_finished_jobs,
            l12_a_handler_stops_when_its_lease_cannot_be_renewed);
        $crate::contract_tests!(@each $setup; identity:
            duplicate_users_are_conflicts_naming_the_field,
            users_round_trip,
            one_time_tokens_are_single_use,
            tokens_and_sessions,
            role_changes_report_the_owners_left,
            recovery_codes_are_single_use,
            totp_steps_only_move_forward,
            l15_the_session_and_membership_of_pick_the_oldest_membership);
        $crate::contract_tests!(@each $setup; plans:
            the_catalogue_is_seeded_cheapest_first,
            unknown_plans_are_none,
            saves_are_upserts_inside_a_unit_of_work);
        $crate::contract_tests!(@each $setup; sites:
            sites_are_visible_to_their_tenant_only,
            domains_are_unique_and_deleted_sites_leave_every_read,
            lists_filter_search_literally_and_page,
            operations_are_scoped_and_ended_ones_stay_ended,
            abandoned_operations_are_those_no_live_job_carries);
        $crate::contract_tests!(@each $setup; fleet:
            servers_round_trip_and_host_names_are_unique,
            servers_list_by_name_and_page_by_id,
            host_keys_are_pinned_by_compare_and_swap,
            health_is_recorded,
            only_a_retired_server_without_site_rows_is_deleted);
        $crate::contract_tests!(@each $setup; backups:
            schedules_read_back_for_their_tenant_only,
            a_second_save_replaces_and_a_rollback_keeps_the_first,
            only_the_tenants_live_sites_exist);
        $crate::contract_tests!(@each $setup; audit:
            chains_are_numbered_and_linked_per_organization,
            listings_filter_and_page_newest_first,
            an_edited_row_breaks_the_chain_at_that_row,
            a_deleted_row_breaks_the_chain_at_that_row,
            swapped_rows_break_the_chain_at_the_first,
            a_concurrent_burst_leaves_one_unbroken_chain);
        $crate::contract_tests!(@each $setup; team:
            invitations_belong_to_their_organization_and_their_current_token,
            acceptance_is_one_compare_and_set,
            seats_are_members_and_open_unexpired_invitations,
            one_transfer_per_organization);
    };
    (@each $setup:ident; $module:ident: $($name:ident),+ $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::$setup().await;
                    $crate::$module::$name(&backend).await;
                }
            )+
        }
    };
}
