//! HTTP routes, one module per area.

pub mod admin;
pub mod auth;
pub mod docs;
pub mod fleet;
pub mod health;
pub mod metrics;
pub mod organization;
pub mod paging;
pub mod plans;
pub mod sites;
pub mod views;

use actix_web::web;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut web::ServiceConfig) {
    cfg.service(plans::list_plans)
        .service(auth::register)
        .service(auth::verify_email)
        .service(auth::verify_email_link)
        .service(auth::resend_verification)
        .service(auth::login)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::refresh)
        .service(auth::forgot_password)
        .service(auth::reset_password)
        .service(auth::change_password)
        .service(auth::totp_setup)
        .service(auth::totp_confirm)
        .service(auth::totp_disable)
        .service(auth::list_tokens)
        .service(auth::create_token)
        .service(auth::revoke_token)
        .service(organization::get_organization)
        .service(organization::update_organization)
        .service(organization::select_plan)
        .service(organization::list_members)
        .service(organization::change_role)
        .service(admin::pending_approvals)
        .service(admin::approve_user)
        .service(admin::reject_user)
        .service(admin::approve_organization)
        .service(admin::reject_organization)
        .service(admin::suspend_organization)
        .service(admin::activate_organization)
        .service(admin::suspend_tenant)
        .service(admin::activate_tenant)
        .service(admin::list_users)
        .service(admin::list_organizations)
        .service(admin::list_tenants)
        .service(fleet::add_vps)
        .service(fleet::list_vps)
        .service(fleet::get_vps)
        .service(fleet::edit_vps)
        .service(fleet::trust_host_key)
        .service(fleet::test_connection)
        .service(fleet::bootstrap)
        .service(fleet::check_health)
        .service(fleet::vps_sites)
        .service(fleet::vps_stats)
        .service(fleet::security_audit)
        .service(fleet::maintenance)
        .service(fleet::decommission)
        .service(fleet::remove_vps)
        .service(sites::list_sites)
        .service(sites::create_site)
        .service(sites::get_site)
        .service(sites::update_site)
        .service(sites::delete_site)
        .service(sites::enable_site)
        .service(sites::disable_site)
        .service(sites::retry_site)
        .service(sites::issue_ssl)
        .service(sites::renew_ssl)
        .service(sites::ssl_status)
        .service(sites::clear_cache)
        .service(sites::export_database)
        .service(sites::optimize_database)
        .service(sites::database_credentials)
        .service(sites::site_info)
        .service(sites::list_operations)
        .service(sites::get_operation)
        .service(sites::operation_events);
}
