//! The OpenAPI 3.1 document, generated from the handlers' annotations, then completed by
//! passes that say once what every operation of a kind shares: [`shape`] (public operations,
//! shared parameters, accepted values, always-sent fields) and [`refusals`] (every refusal an
//! operation's traits imply, by reference to the shared components of [`problems`]).

pub mod problems;
pub mod refusals;
pub mod shape;
#[cfg(test)]
mod tests;

use crate::error::{FieldError, Problem};
use crate::idempotency::OpenApiHeader;
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

/// The document-level parts of the API description: info, shared components, tags. The paths
/// come from the routes themselves ([`crate::routes::documented`]); see [`document`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CHOM API",
        description = "Cloud Hosting & Observability Manager: host WordPress, static and Laravel sites on a VPS fleet.\n\nErrors are RFC 9457 `application/problem+json` documents with a stable `code` and the `request_id`. Every operation lists every status it can answer, each refusal with its codes and an example per code; the refusals shared by many operations are declared once in `components.responses` (a bearer token implies 401, 403, 404 `TENANT_NOT_FOUND`, 422 and 429; a body 400, 408, 413, 415 and 422; an id in the path 404; everything under /api/v1 503; everything 500). A method a path does not declare answers 405 `METHOD_NOT_ALLOWED` with `Allow` (`components.responses.MethodNotAllowed`); an unknown path 404 `NOT_FOUND`.\n\nEvery answer to an authenticated request carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; every answer carries `X-Request-Id`.\n\nEvery authenticated POST honours an `Idempotency-Key` header (1 to 255 printable ASCII characters, per bearer token): sending the request again replays its first successful answer for 24 hours, with `Idempotent-Replayed: true`, instead of acting twice. A key reused for another request is 422 `IDEMPOTENCY_KEY_REUSED`; one whose first request still runs is 409 `IDEMPOTENCY_KEY_IN_USE` with `Retry-After`; a malformed key is 400 `INVALID_IDEMPOTENCY_KEY`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "plans", description = "The plan catalogue"),
        (name = "auth", description = "Sign-up, login, tokens, passwords, 2FA"),
        (name = "organization", description = "The caller's organization, plan and members"),
        (name = "admin", description = "Super admin: approvals, suspensions, listings"),
        (name = "fleet", description = "Super admin: the VPS fleet, host keys, bootstrap, health"),
        (name = "sites", description = "A tenant's sites and the operations that change them"),
        (name = "backups", description = "A tenant's site backups: today, each site's backup schedule"),
        (name = "team", description = "Members, invitations, ownership transfer"),
        (name = "audit", description = "The organization's tamper-evident audit log: every change, hash-chained"),
    )
)]
struct ApiDoc;

/// The API description: `ApiDoc`, the paths and schemas of every route served
/// ([`crate::routes::documented`]), then the bearer scheme, the shared parameters and shapes,
/// the `Idempotency-Key` header (it goes on the authenticated POSTs, so it needs the paths) and
/// last the refusals (they follow from all of the above).
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::routes::documented());
    BearerAuth.modify(&mut doc);
    shape::Shape.modify(&mut doc);
    OpenApiHeader.modify(&mut doc);
    refusals::Refusals.modify(&mut doc);
    Policy.modify(&mut doc);
    doc
}

/// Quotes the team policy on every organization member's operation
/// ([`crate::routes::policy::OPERATIONS`]).
struct Policy;

impl Modify for Policy {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                ("GET", item.get.as_mut()),
                ("PUT", item.put.as_mut()),
                ("POST", item.post.as_mut()),
                ("DELETE", item.delete.as_mut()),
                ("PATCH", item.patch.as_mut()),
            ];
            for (method, op) in operations {
                let (Some(op), Some(action)) = (op, crate::routes::policy::action_of(method, path))
                else {
                    continue;
                };
                let text = crate::routes::policy::describe(action);
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{text}"),
                    _ => text,
                });
            }
        }
    }
}

/// The document as pretty JSON (what `cargo xtask openapi` writes to `docs/openapi.json`).
///
/// # Errors
/// Serialization failed (it cannot for this type; kept fallible rather than panicking).
pub fn document_json() -> anyhow::Result<String> {
    Ok(document().to_pretty_json()? + "\n")
}

/// The methods the document declares for the path template matching `path`, as an `Allow`
/// value (`GET, POST`); `None` when no template matches. Answers 405 for a wrong method on an
/// existing path: actix routes such a request to the default service, which alone would say 404.
#[must_use]
pub fn allowed_methods(path: &str) -> Option<String> {
    use std::sync::OnceLock;
    static TEMPLATES: OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let doc = document();
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
