//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::error::{FieldError, Problem};
use crate::routes::{health, plans};
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CHOM API",
        description = "Cloud Hosting & Observability Manager: host WordPress, static and Laravel sites on a VPS fleet.\n\nErrors are RFC 9457 `application/problem+json` documents with a stable `code` and the `request_id`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    paths(health::live, health::ready, crate::routes::metrics::metrics, plans::list_plans),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "plans", description = "The plan catalogue"),
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
