//! `/api/v1/admin/vps…`: the VPS fleet (super admins only; never exposed to tenants).
//!
//! One module per use case, re-exported here; the error mapping they share lives here.

use crate::error::{ApiError, FieldError};
use actix_web::http::StatusCode;
use chom_infrastructure::{FleetError, GatewayError};
use chom_kernel::VpsId;
use utoipa_actix_web::service_config::ServiceConfig;

mod agent;
mod host_key;
mod inventory;
mod lifecycle;
mod views;

pub use agent::*;
pub use host_key::*;
pub use inventory::*;
pub use lifecycle::*;
pub use views::*;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(add_vps)
        .service(list_vps)
        .service(get_vps)
        .service(edit_vps)
        .service(trust_host_key)
        .service(test_connection)
        .service(bootstrap)
        .service(check_health)
        .service(vps_sites)
        .service(vps_stats)
        .service(security_audit)
        .service(maintenance)
        .service(decommission)
        .service(remove_vps);
}

impl From<FleetError> for ApiError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::Invalid(errors) => Self::validation(
                errors
                    .into_iter()
                    .map(|(field, message)| FieldError {
                        field: field.to_owned(),
                        code: "INVALID_VALUE".into(),
                        message,
                    })
                    .collect(),
            ),
            FleetError::NotFound => Self::not_found("no such server"),
            FleetError::HostnameTaken => Self::new(
                StatusCode::CONFLICT,
                "HOSTNAME_TAKEN",
                "a server with this host name exists",
            ),
            FleetError::Conflict(m) => Self::new(StatusCode::CONFLICT, "CONFLICT", m),
            FleetError::Gateway(GatewayError::HostKeyMismatch(w)) => Self::new(
                StatusCode::BAD_GATEWAY,
                "HOST_KEY_MISMATCH",
                format!(
                    "the host key of {w} changed: nothing was sent; re-trust it only if the change is expected"
                ),
            ),
            FleetError::Gateway(GatewayError::HostKeyNotTrusted) => Self::new(
                StatusCode::CONFLICT,
                "HOST_KEY_NOT_TRUSTED",
                "trust the server's host key first (POST …/trust-host-key)",
            ),
            FleetError::Gateway(GatewayError::Unreachable(m)) => {
                Self::new(StatusCode::BAD_GATEWAY, "VPS_UNREACHABLE", m)
            }
            FleetError::Busy(m) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "VPS_BUSY", m)
                .with_header("Retry-After", "30"),
            FleetError::Gateway(GatewayError::BadAnswer(m)) | FleetError::Agent(m) => {
                Self::new(StatusCode::BAD_GATEWAY, "AGENT_ERROR", m)
            }
            FleetError::HostKeyAlreadyPinned(m) => {
                Self::new(StatusCode::CONFLICT, "HOST_KEY_ALREADY_PINNED", m)
            }
            FleetError::HostKeyUnexpected(presented) => Self::new(
                StatusCode::CONFLICT,
                "HOST_KEY_UNEXPECTED",
                format!(
                    "the server presents {presented}, not the expected key: nothing was pinned"
                ),
            ),
            FleetError::HasSites(n) => Self::new(
                StatusCode::CONFLICT,
                "VPS_HAS_SITES",
                format!(
                    "{n} site record(s) name this server (deleted sites keep theirs for their history)"
                ),
            ),
            FleetError::NotDecommissioned => Self::new(
                StatusCode::CONFLICT,
                "VPS_NOT_DECOMMISSIONED",
                "decommission the server first",
            ),
            FleetError::Store(s) => s.into(),
        }
    }
}

fn vps_id(raw: &str) -> Result<VpsId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such server"))
}
