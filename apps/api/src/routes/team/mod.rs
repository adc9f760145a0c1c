//! The team's HTTP area: members (list, role, removal, leaving), invitations (make, list,
//! resend, revoke, accept) and ownership transfer. Every lookup is scoped to the caller's
//! organization: a foreign id is 404.

use crate::error::ApiError;
use actix_web::http::StatusCode;
use chom_team::TeamError;
use utoipa_actix_web::service_config::ServiceConfig;

mod invitations;
mod members;
mod transfer;
mod views;

pub use invitations::*;
pub use members::*;
pub use transfer::*;
pub use views::*;

/// Serves this area's handlers and documents them (see [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_members)
        .service(change_role)
        .service(remove_member)
        .service(leave_organization)
        .service(create_invitation)
        .service(list_invitations)
        .service(accept_invitation)
        .service(resend_invitation)
        .service(revoke_invitation)
        .service(propose_transfer)
        .service(get_transfer)
        .service(confirm_transfer)
        .service(cancel_transfer);
}

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        let msg = e.to_string();
        match e {
            TeamError::Forbidden(m) => Self::forbidden(m),
            TeamError::NotFound => Self::not_found("no such member or invitation"),
            TeamError::Invalid(errors) => Self::validation(Self::field_errors(
                errors
                    .into_iter()
                    .map(|(f, e)| (f, e.code, e.message))
                    .collect(),
            )),
            TeamError::AlreadyInvited => Self::new(StatusCode::CONFLICT, "INVITATION_PENDING", msg),
            TeamError::AlreadyMember => Self::new(StatusCode::CONFLICT, "ALREADY_MEMBER", msg),
            TeamError::SeatLimit(_) => Self::new(StatusCode::FORBIDDEN, "SEAT_LIMIT_EXCEEDED", msg),
            TeamError::InvitationNotFound => {
                Self::new(StatusCode::NOT_FOUND, "INVITATION_NOT_FOUND", msg)
            }
            TeamError::InvitationExpired => Self::new(StatusCode::GONE, "INVITATION_EXPIRED", msg),
            TeamError::InvitationRevoked => Self::new(StatusCode::GONE, "INVITATION_REVOKED", msg),
            TeamError::InvitationUsed => {
                Self::new(StatusCode::GONE, "INVITATION_ALREADY_USED", msg)
            }
            TeamError::EmailMismatch => {
                Self::new(StatusCode::FORBIDDEN, "INVITATION_EMAIL_MISMATCH", msg)
            }
            TeamError::AccountExists => Self::new(StatusCode::CONFLICT, "ACCOUNT_EXISTS", msg),
            TeamError::LastOwner => Self::new(StatusCode::CONFLICT, "LAST_OWNER", msg),
            TeamError::InvalidState(m) => Self::new(StatusCode::CONFLICT, "INVALID_STATE", m),
            TeamError::Identity(e) => e.into(),
            TeamError::Store(s) => s.into(),
        }
    }
}

/// An id from the path; one that does not parse is as unknown as a foreign one.
fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no such {what}")))
}
