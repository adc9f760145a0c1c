//! TOTP two-factor authentication: set-up, confirmation with recovery codes, removal.

use super::*;

/// 2FA enrolment material.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupView {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://` URI for a QR code.
    pub otpauth_uri: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// Payload.
    pub data: TotpSetupView,
}

/// The account password, to confirm a sensitive change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery"}))]
pub struct PasswordConfirmation {
    /// The account password (a wrong one is 401 `INVALID_CREDENTIALS`).
    #[serde(default)]
    #[schema(required = true, format = Password)]
    pub password: String,
}

/// Starts 2FA enrolment (the password confirms it is the account holder); confirm with a code
/// to turn it on.
#[utoipa::path(post, path = "/api/v1/auth/2fa/setup", tag = "auth", security(("bearer" = [])), request_body = PasswordConfirmation,
    responses(
        (status = 200, description = "Scan or type the secret, then confirm", body = TotpSetupResponse),
        (status = 401, description = "`INVALID_CREDENTIALS`: wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: already enabled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`: the account's password attempts", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/2fa/setup")]
pub async fn totp_setup(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<PasswordConfirmation>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let e = Account::of_email(&services, auth.session.user.email.as_str())
        .attempt(
            Checks {
                password: true,
                code: false,
            },
            services
                .identity
                .totp_setup(&auth.session, &body.0.password),
        )
        .await?;
    Ok(HttpResponse::Ok().json(TotpSetupResponse {
        data: TotpSetupView {
            secret: e.secret,
            otpauth_uri: e.uri,
        },
    }))
}

/// A TOTP code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct CodeRequest {
    /// Six digits from the authenticator app (a wrong one is 401 `TWO_FACTOR_REQUIRED`).
    #[serde(default)]
    #[schema(required = true, pattern = "^[0-9]{6}$", example = "123456")]
    pub code: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Each works once, instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Payload.
    pub data: RecoveryCodesView,
}

/// Turns 2FA on with a current code; returns 10 single-use recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/2fa/confirm", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 200, description = "2FA is on", body = RecoveryCodesResponse),
        (status = 401, description = "`TWO_FACTOR_REQUIRED`: wrong or reused code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: not set up, or already on", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/2fa/confirm")]
pub async fn totp_confirm(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let codes = Account::of_email(&services, auth.session.user.email.as_str())
        .attempt(
            Checks {
                password: false,
                code: true,
            },
            services.identity.totp_confirm(&auth.session, &body.0.code),
        )
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        data: RecoveryCodesView {
            recovery_codes: codes,
        },
    }))
}

/// Disable request: the password, and `code` or `recovery_code` (neither is 422 `REQUIRED`
/// naming `code`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery", "code": "123456"}))]
pub struct DisableTotpRequest {
    /// The account password (a wrong one is 401 `INVALID_CREDENTIALS`).
    #[serde(default)]
    #[schema(required = true, format = Password)]
    pub password: String,
    /// A current TOTP code (six digits).
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{6}$")]
    pub code: Option<String>,
    /// Or a recovery code.
    #[serde(default)]
    #[schema(nullable = false)]
    pub recovery_code: Option<String>,
}

/// Turns 2FA off (password plus a code or a recovery code).
#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "auth", security(("bearer" = [])), request_body = DisableTotpRequest,
    responses(
        (status = 204, description = "2FA is off"),
        (status = 401, description = "`INVALID_CREDENTIALS`, `TWO_FACTOR_REQUIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: not on", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/2fa/disable")]
pub async fn totp_disable(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<DisableTotpRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let b = body.0;
    let second = match (b.code, b.recovery_code) {
        (Some(c), _) => SecondFactor::Totp(c),
        (None, Some(c)) => SecondFactor::Recovery(c),
        (None, None) => {
            return Err(ApiError::field(
                "code",
                "REQUIRED",
                "a TOTP code or a recovery code is required",
            ));
        }
    };
    Account::of_email(&services, auth.session.user.email.as_str())
        .attempt(
            Checks {
                password: true,
                code: true,
            },
            services
                .identity
                .totp_disable(&auth.session, &b.password, second),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
