//! `/api/v1/auth/*`: sign-up, verification, login, session, passwords, 2FA, tokens — one
//! module per area, re-exported here.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::ratelimit::{self, Account, Checks};
use crate::request_id::current_request_id;
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chom_auth::{Abilities, Ability, ApiToken, IssuedToken};
use chom_tenancy::identity::{Registration, SecondFactor};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// Runs `work` after the answer: for the neutral answers (forgot password, resend
/// verification), whose timing must not reveal whether the address is known (M8). A failure
/// is logged; the client could not have been told anyway.
fn answer_first<E: std::fmt::Display + 'static>(
    work: impl std::future::Future<Output = Result<(), E>> + 'static,
) {
    let span = tracing::Span::current();
    actix_web::rt::spawn(tracing::Instrument::instrument(
        async move {
            if let Err(e) = work.await {
                tracing::warn!(error = %e, "background auth work failed");
            }
        },
        span,
    ));
}

mod password;
mod session;
mod signup;
mod tokens;
mod two_factor;

pub use password::*;
pub use session::*;
pub use signup::*;
pub use tokens::*;
pub use two_factor::*;

/// Serves this area's handlers and documents them: one `service` call per handler (see
/// [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(register)
        .service(verify_email)
        .service(verify_email_link)
        .service(resend_verification)
        .service(login)
        .service(logout)
        .service(me)
        .service(refresh)
        .service(forgot_password)
        .service(reset_password)
        .service(change_password)
        .service(totp_setup)
        .service(totp_confirm)
        .service(totp_disable)
        .service(list_tokens)
        .service(create_token)
        .service(revoke_token);
}
