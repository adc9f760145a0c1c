//! Passwords: forgotten (neutral answer), reset by e-mailed token, changed.

use super::*;

/// Starts a password reset: if the address is known, a token is e-mailed. The answer is the
/// same either way.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "If the address is known, a reset token is on its way", body = StatusResponse),
        (status = 429, description = "`RATE_LIMITED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/forgot-password")]
pub async fn forgot_password(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    let identity = services.identity.clone();
    let request_id = current_request_id();
    answer_first(async move { identity.forgot_password(&body.0.email, request_id).await });
    Ok(HttpResponse::Accepted().json(status("accepted")))
}

/// Reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q0CkZrQ5u2b6G1sV7yX9", "password": "a new long passphrase"}))]
pub struct ResetRequest {
    /// The token from the e-mail (valid 60 minutes, once; an empty one is 422 `REQUIRED`).
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub token: String,
    /// The new password: 12–128 characters, not one repeated character, not the e-mail or the
    /// username.
    #[serde(default)]
    #[schema(required = true, format = Password, min_length = 12, max_length = 128)]
    pub password: String,
}

/// Sets a new password with the e-mailed token. Every token of the account is revoked.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetRequest,
    responses(
        (status = 200, description = "Password changed", body = StatusResponse),
        (status = 400, description = "`INVALID_TOKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/reset-password")]
pub async fn reset_password(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    if body.0.token.trim().is_empty() {
        return Err(ApiError::field(
            "token",
            "REQUIRED",
            "the token from the e-mail is required",
        ));
    }
    services
        .identity
        .reset_password(body.0.token.trim(), &body.0.password)
        .await?;
    Ok(HttpResponse::Ok().json(status("password_changed")))
}

/// Password change request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "a new long passphrase"}))]
pub struct ChangePasswordRequest {
    /// The current password (a wrong one is 401 `INVALID_CREDENTIALS`).
    #[serde(default)]
    #[schema(required = true, format = Password)]
    pub current_password: String,
    /// The new password: 12–128 characters, not one repeated character, not the e-mail or the
    /// username.
    #[serde(default)]
    #[schema(required = true, format = Password, min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Changes the password. Every token of the account is revoked, this one included.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; log in again"),
        (status = 401, description = "`INVALID_CREDENTIALS` (wrong current password), `UNAUTHENTICATED`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/password")]
pub async fn change_password(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Write)?;
    Account::of_email(&services, auth.session.user.email.as_str())
        .attempt(
            Checks {
                password: true,
                code: false,
            },
            services.identity.change_password(
                &auth.session,
                &body.0.current_password,
                &body.0.new_password,
            ),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
