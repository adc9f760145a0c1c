//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::error::{FieldError, Problem};
use crate::idempotency::OpenApiHeader;
use crate::routes::{admin, auth, fleet, health, organization, plans, sites};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Declares the bearer scheme the `security(("bearer" = []))` annotations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("<token id>.<secret>")
                    .description(Some(
                        "An API token from POST /api/v1/auth/login or /api/v1/auth/tokens",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CHOM API",
        description = "Cloud Hosting & Observability Manager: host WordPress, static and Laravel sites on a VPS fleet.\n\nErrors are RFC 9457 `application/problem+json` documents with a stable `code` and the `request_id`.\n\nEvery authenticated POST honours an `Idempotency-Key` header (1 to 255 printable ASCII characters, per bearer token): sending the request again replays its first successful answer for 24 hours, with `Idempotent-Replayed: true`, instead of acting twice. A key reused for another request is 422 `IDEMPOTENCY_KEY_REUSED`; one whose first request still runs is 409 `IDEMPOTENCY_KEY_IN_USE` with `Retry-After`; a malformed key is 400 `INVALID_IDEMPOTENCY_KEY`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    paths(
        health::live, health::ready, crate::routes::metrics::metrics, plans::list_plans,
        auth::register, auth::verify_email, auth::verify_email_link, auth::resend_verification,
        auth::login, auth::logout, auth::me, auth::refresh, auth::forgot_password,
        auth::reset_password, auth::change_password, auth::totp_setup, auth::totp_confirm,
        auth::totp_disable, auth::list_tokens, auth::create_token, auth::revoke_token,
        organization::get_organization, organization::update_organization,
        organization::select_plan, organization::list_members, organization::change_role,
        admin::pending_approvals, admin::approve_user, admin::reject_user,
        admin::approve_organization, admin::reject_organization, admin::suspend_organization,
        admin::activate_organization, admin::suspend_tenant, admin::activate_tenant,
        admin::list_users, admin::list_organizations, admin::list_tenants,
        fleet::add_vps, fleet::list_vps, fleet::get_vps, fleet::edit_vps, fleet::trust_host_key,
        fleet::test_connection, fleet::bootstrap, fleet::check_health, fleet::vps_sites,
        fleet::vps_stats, fleet::security_audit,
        fleet::maintenance, fleet::decommission, fleet::remove_vps,
        sites::list_sites, sites::create_site, sites::get_site, sites::update_site,
        sites::delete_site, sites::enable_site, sites::disable_site, sites::retry_site,
        sites::issue_ssl, sites::renew_ssl, sites::ssl_status, sites::clear_cache,
        sites::export_database, sites::optimize_database, sites::database_credentials,
        sites::site_info, sites::list_operations, sites::get_operation, sites::operation_events,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth, &OpenApiHeader),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "plans", description = "The plan catalogue"),
        (name = "auth", description = "Sign-up, login, tokens, passwords, 2FA"),
        (name = "organization", description = "The caller's organization, plan and members"),
        (name = "admin", description = "Super admin: approvals, suspensions, listings"),
        (name = "fleet", description = "Super admin: the VPS fleet, host keys, bootstrap, health"),
        (name = "sites", description = "A tenant's sites and the operations that change them"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `cargo xtask openapi` writes to `docs/openapi.json`).
///
/// # Errors
/// Serialization failed (it cannot for this type; kept fallible rather than panicking).
pub fn document_json() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_pretty_json()? + "\n")
}

/// The methods the document declares for the path template matching `path`, as an `Allow`
/// value (`GET, POST`); `None` when no template matches. Answers 405 for a wrong method on an
/// existing path: actix routes such a request to the default service, which alone would say 404.
#[must_use]
pub fn allowed_methods(path: &str) -> Option<String> {
    use std::sync::OnceLock;
    static TEMPLATES: OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let doc = ApiDoc::openapi();
        doc.paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                let segments = template.split('/').map(str::to_owned).collect();
                (segments, methods)
            })
            .collect()
    });
    let wanted: Vec<&str> = path.split('/').collect();
    templates.iter().find_map(|(segments, methods)| {
        let matches = segments.len() == wanted.len()
            && segments
                .iter()
                .zip(&wanted)
                .all(|(t, w)| (t.starts_with('{') && t.ends_with('}') && !w.is_empty()) || t == w);
        (matches && !methods.is_empty()).then(|| methods.join(", "))
    })
}
