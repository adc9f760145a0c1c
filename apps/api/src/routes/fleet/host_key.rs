//! Pinning a server's SSH host key: first contact, or a deliberate change proven out of band.

use super::views::{VpsResponse, VpsView};
use super::vps_id;
use crate::error::{ApiError, Problem};
use crate::extract::{OptionalBody, SuperAdmin};
use crate::wiring::Services;
use actix_web::{HttpResponse, post, web};
use chom_infrastructure::TrustHostKey;
use serde::Deserialize;
use utoipa::ToSchema;

/// Who vouches for the key. Leave the body out (or send `{}`) only on first contact: no field
/// is required.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expected_key": "SHA256:uD2XcKQyX1Qq6bYF0m5o8Qk2n0m1QwJ5cH0mA7f3yZs"}))]
pub struct TrustRequest {
    /// The key the server must present now: `ssh-ed25519 AAAA…` or its `SHA256:…` fingerprint,
    /// compared out of band (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the
    /// server). Enough on its own to re-pin a server whose key changed.
    #[serde(default)]
    #[schema(nullable = false)]
    pub expected_key: Option<String>,
    /// Replace the pinned key by whatever the server presents now (needs `old_fingerprint`).
    #[serde(default)]
    #[schema(default = false)]
    pub replace: bool,
    /// With `replace`: the `SHA256:…` fingerprint of the key pinned now.
    #[serde(default)]
    #[schema(nullable = false, pattern = "^SHA256:")]
    pub old_fingerprint: Option<String>,
}

/// Reads the server's host key and pins it: every later connection checks it strictly.
///
/// First contact (no key pinned) trusts what answers, unless `expected_key` is given. Once a
/// key is pinned, changing it needs `expected_key` equal to what the server presents now, or
/// `replace: true` with `old_fingerprint` equal to the pinned key's fingerprint; without
/// either, the call only succeeds (changing nothing) if the server still presents the pinned
/// key. The answer carries the pinned key and its fingerprint.
#[utoipa::path(post, path = "/api/v1/admin/vps/{id}/trust-host-key", tag = "fleet", security(("bearer" = [])),
    request_body(content = Option<TrustRequest>, description = "Optional on first contact; required to change a pinned key"),
    params(("id" = String, Path, description = "Server id")),
    responses(
        (status = 200, description = "Pinned (`host_key`, `host_key_fingerprint`)", body = VpsResponse),
        (status = 400, description = "`MALFORMED_JSON`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`HOST_KEY_UNEXPECTED`: the server presents another key than `expected_key`; `HOST_KEY_ALREADY_PINNED`: a key is pinned and the request neither names the presented key nor proves the pinned one", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: a body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: an unknown field, a wrong type, a key or fingerprint that does not parse, `replace` without `old_fingerprint`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`VPS_UNREACHABLE`, `AGENT_ERROR` (no usable key offered)", body = Problem, content_type = "application/problem+json")))]
#[post("/admin/vps/{id}/trust-host-key")]
pub async fn trust_host_key(
    a: SuperAdmin,
    services: web::Data<Services>,
    path: web::Path<String>,
    body: OptionalBody<TrustRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = vps_id(&path)?;
    let req = body.0.unwrap_or_default();
    let vps = services
        .fleet
        .trust_host_key(
            &a.0.actor(),
            id,
            &TrustHostKey {
                expected_key: req.expected_key,
                replace: req.replace,
                old_fingerprint: req.old_fingerprint,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(VpsResponse {
        data: VpsView::from(&vps),
    }))
}
