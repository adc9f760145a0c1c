//! `/api/v1/auth/*`: sign-up, verification, login, session, passwords, 2FA, tokens.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::ratelimit;
use crate::request_id::current_request_id;
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chom_auth::{Abilities, Ability, ApiToken, IssuedToken};
use chom_tenancy::identity::{Registration, SecondFactor};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// Sign-up request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 characters: letters, digits, `_`, `-`, `.`.
    #[serde(default)]
    #[schema(example = "jane")]
    pub username: String,
    /// First name.
    #[serde(default)]
    #[schema(example = "Jane")]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    #[schema(example = "Doe")]
    pub last_name: String,
    /// E-mail; a verification link is sent there.
    #[serde(default)]
    #[schema(example = "jane@example.com")]
    pub email: String,
    /// 12–128 characters.
    #[serde(default)]
    pub password: String,
    /// Organization name (default: the user's name).
    #[serde(default)]
    pub organization_name: Option<String>,
}

/// `{"data": …}` of a sign-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredView {
    /// The user, pending approval.
    pub user: UserView,
    /// The organization, pending approval.
    pub organization: OrganizationView,
    /// Its default tenant.
    pub tenant: TenantView,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredResponse {
    /// Payload.
    pub data: RegisteredView,
}

/// Signs up. The account is pending: verify the e-mail, then a super admin approves it.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; a verification e-mail is on its way", body = RegisteredResponse),
        (status = 403, description = "`EMAIL_REJECTED`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`EMAIL_TAKEN`, `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`, fields in `errors`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/register")]
pub async fn register(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    let b = body.0;
    let done = services
        .identity
        .register(
            Registration {
                username: b.username,
                first_name: b.first_name,
                last_name: b.last_name,
                email: b.email,
                password: b.password,
                organization_name: b.organization_name,
            },
            current_request_id(),
        )
        .await?;
    Ok(HttpResponse::Created().json(RegisteredResponse {
        data: RegisteredView {
            user: UserView::from(&done.user),
            organization: OrganizationView::from(&done.organization),
            tenant: TenantView::from(&done.tenant),
        },
    }))
}

/// A one-time token from an e-mail.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token.
    #[serde(default)]
    pub token: String,
}

/// `{"data": {"status": …}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// Payload.
    pub data: StatusView,
}

/// A status word.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// What happened.
    pub status: &'static str,
}

fn status(s: &'static str) -> StatusResponse {
    StatusResponse {
        data: StatusView { status: s },
    }
}

async fn verify(
    services: &Services,
    req: &HttpRequest,
    token: &str,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(services, req).await?;
    if token.trim().is_empty() {
        return Err(ApiError::field(
            "token",
            "REQUIRED",
            "the token from the e-mail is required",
        ));
    }
    services.identity.verify_email(token.trim()).await?;
    Ok(HttpResponse::Ok().json(status("verified")))
}

/// Verifies the e-mail address with the token from the verification e-mail.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified", body = StatusResponse),
        (status = 400, description = "`INVALID_TOKEN`: unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/verify-email")]
pub async fn verify_email(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    verify(&services, &req, &body.0.token).await
}

/// The link in the verification e-mail (same as the POST).
#[utoipa::path(get, path = "/api/v1/auth/verify-email", tag = "auth", params(TokenRequest),
    responses(
        (status = 200, description = "Verified", body = StatusResponse),
        (status = 400, description = "`INVALID_TOKEN`", body = Problem, content_type = "application/problem+json")))]
#[get("/auth/verify-email")]
pub async fn verify_email_link(
    req: HttpRequest,
    services: web::Data<Services>,
    query: web::Query<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    verify(&services, &req, &query.token).await
}

/// An e-mail address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The address.
    #[serde(default)]
    pub email: String,
}

/// Sends a new verification link. The answer is the same whether or not the address is known.
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "If the address belongs to an unverified account, a link is on its way", body = StatusResponse),
        (status = 429, description = "`RATE_LIMITED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/resend-verification")]
pub async fn resend_verification(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    services
        .identity
        .resend_verification(&body.0.email, current_request_id())
        .await?;
    Ok(HttpResponse::Accepted().json(status("accepted")))
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// Current TOTP code, when 2FA is on.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// A recovery code instead of the TOTP code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// A token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokenView {
    /// Token id (for listing and revoking).
    pub id: String,
    /// `<id>.<secret>`: send it as `Authorization: Bearer …`. Shown only now.
    pub token: String,
    /// Label.
    pub name: String,
    /// What it may do.
    pub abilities: Vec<String>,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<&IssuedToken> for IssuedTokenView {
    fn from(i: &IssuedToken) -> Self {
        Self {
            id: i.token.id.simple().to_string(),
            token: i.plaintext.clone(),
            name: i.token.name.clone(),
            abilities: i
                .token
                .abilities
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            expires_at: i.token.expires_at,
        }
    }
}

/// Login answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    /// The session token.
    pub token: IssuedTokenView,
    /// The user.
    pub user: UserView,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Payload.
    pub data: LoginView,
}

/// Logs in with e-mail and password (and a second factor when 2FA is on). Each refusal has its
/// own code.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A session token", body = LoginResponse),
        (status = 401, description = "`INVALID_CREDENTIALS`, `TWO_FACTOR_REQUIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`EMAIL_NOT_VERIFIED`, `ACCOUNT_PENDING_APPROVAL`, `ACCOUNT_REJECTED`, `ORGANIZATION_SUSPENDED`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (per IP, and 10 password attempts per account per 15 min)", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    let b = body.0;
    let account = format!("auth:account:{}", b.email.trim().to_lowercase());
    ratelimit::check(
        &services,
        &account,
        services.limits.password_attempts,
        Duration::from_secs(15 * 60),
    )
    .await?;
    let second = match (b.totp_code, b.recovery_code) {
        (Some(code), _) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::Recovery(code)),
        (None, None) => None,
    };
    let (user, issued) = services
        .identity
        .login(&b.email, &b.password, second)
        .await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        data: LoginView {
            token: IssuedTokenView::from(&issued),
            user: UserView::from(&user),
        },
    }))
}

/// Revokes the token of this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`UNAUTHENTICATED`, `TOKEN_EXPIRED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/logout")]
pub async fn logout(auth: Auth, services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    services.identity.logout(&auth.session).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller: user, organization, tenant in use, role, token abilities.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: UserView,
    /// The organization (none for super admins outside one).
    pub organization: Option<OrganizationView>,
    /// The tenant this request acts for.
    pub tenant: Option<TenantView>,
    /// Role in the organization.
    pub role: Option<String>,
    /// Abilities of the token used.
    pub abilities: Vec<String>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// Payload.
    pub data: MeView,
}

/// Who the token belongs to, and what it may do.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    params(("X-Tenant-Id" = Option<String>, Header, description = "Tenant to act for (default: the organization's default tenant)")),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "`UNAUTHENTICATED`, `TOKEN_EXPIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`EMAIL_NOT_VERIFIED`, `ACCOUNT_PENDING_APPROVAL`, `ACCOUNT_REJECTED`, `ORGANIZATION_SUSPENDED`, `TENANT_FORBIDDEN`", body = Problem, content_type = "application/problem+json")))]
#[get("/auth/me")]
pub async fn me(auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    // Everything comes from the session read while authenticating: no further query.
    let s = &auth.session;
    Ok(HttpResponse::Ok().json(MeResponse {
        data: MeView {
            user: UserView::from(&s.user),
            organization: s.organization.as_ref().map(OrganizationView::from),
            tenant: auth.tenant_record.as_ref().map(TenantView::from),
            role: s.membership.map(|(_, r)| r.as_str().to_owned()),
            abilities: s
                .token
                .abilities
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        },
    }))
}

/// Envelope of a new token.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokenResponse {
    /// Payload.
    pub data: IssuedTokenView,
}

/// Replaces this request's token with a new one (the old one is revoked).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The new token", body = IssuedTokenResponse),
        (status = 401, description = "`UNAUTHENTICATED`, `TOKEN_EXPIRED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/refresh")]
pub async fn refresh(auth: Auth, services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let issued = services.identity.refresh(&auth.session).await?;
    Ok(HttpResponse::Ok().json(IssuedTokenResponse {
        data: IssuedTokenView::from(&issued),
    }))
}

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
    services
        .identity
        .forgot_password(&body.0.email, current_request_id())
        .await?;
    Ok(HttpResponse::Accepted().json(status("accepted")))
}

/// Reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The token from the e-mail (valid 60 minutes, once).
    #[serde(default)]
    pub token: String,
    /// The new password (12–128 characters).
    #[serde(default)]
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
pub struct ChangePasswordRequest {
    /// The current password.
    #[serde(default)]
    pub current_password: String,
    /// The new password.
    #[serde(default)]
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
    let account = format!("auth:account-user:{}", auth.session.user_id);
    ratelimit::check(
        &services,
        &account,
        services.limits.password_attempts,
        Duration::from_secs(15 * 60),
    )
    .await?;
    services
        .identity
        .change_password(
            &auth.session,
            &body.0.current_password,
            &body.0.new_password,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

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

/// Starts 2FA enrolment; confirm with a code to turn it on.
#[utoipa::path(post, path = "/api/v1/auth/2fa/setup", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Scan or type the secret, then confirm", body = TotpSetupResponse),
        (status = 409, description = "`CONFLICT`: already enabled", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/2fa/setup")]
pub async fn totp_setup(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let e = services.identity.totp_setup(&auth.session).await?;
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
pub struct CodeRequest {
    /// Six digits from the authenticator app.
    #[serde(default)]
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
    let codes = services
        .identity
        .totp_confirm(&auth.session, &body.0.code)
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        data: RecoveryCodesView {
            recovery_codes: codes,
        },
    }))
}

/// Disable request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    /// The account password.
    #[serde(default)]
    pub password: String,
    /// A current TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// Or a recovery code.
    #[serde(default)]
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
    services
        .identity
        .totp_disable(&auth.session, &b.password, second)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Abilities.
    pub abilities: Vec<String>,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Last use (to the minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Whether it is the token of this request.
    pub current: bool,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Live tokens, newest first.
    pub data: Vec<TokenView>,
}

fn token_view(t: &ApiToken, current: uuid::Uuid) -> TokenView {
    TokenView {
        id: t.id.simple().to_string(),
        name: t.name.clone(),
        abilities: t.abilities.iter().map(|a| a.as_str().to_owned()).collect(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        current: t.id == current,
    }
}

/// The caller's live tokens.
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Tokens", body = TokenList),
        (status = 401, description = "`UNAUTHENTICATED`", body = Problem, content_type = "application/problem+json")))]
#[get("/auth/tokens")]
pub async fn list_tokens(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let tokens = services.identity.list_tokens(&auth.session).await?;
    Ok(HttpResponse::Ok().json(TokenList {
        data: tokens
            .iter()
            .map(|t| token_view(t, auth.session.token.id))
            .collect(),
    }))
}

/// New token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Label (1–100 characters).
    #[serde(default)]
    pub name: String,
    /// Subset of `read`, `read:sensitive`, `write`, `admin` (at most what this request's token has).
    #[serde(default)]
    pub abilities: Vec<String>,
    /// Lifetime in days (1–365, default 90).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// Creates a token; its secret is shown only in this answer.
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])), request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token, with its secret", body = IssuedTokenResponse),
        (status = 403, description = "`INSUFFICIENT_ABILITY`, `FORBIDDEN` (asks more than this token has)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/tokens")]
pub async fn create_token(
    auth: Auth,
    services: web::Data<Services>,
    body: Body<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let b = body.0;
    let mut abilities = Vec::new();
    for (i, a) in b.abilities.iter().enumerate() {
        abilities.push(
            Ability::parse(a)
                .map_err(|e| ApiError::field(format!("abilities[{i}]"), e.code, e.message))?,
        );
    }
    let lifetime = match b.expires_in_days {
        Some(d) if !(1..=365).contains(&d) => {
            return Err(ApiError::field(
                "expires_in_days",
                "OUT_OF_RANGE",
                "between 1 and 365",
            ));
        }
        Some(d) => Some(time::Duration::days(d)),
        None => None,
    };
    let issued = services
        .identity
        .create_token(
            &auth.session,
            &b.name,
            abilities.into_iter().collect::<Abilities>(),
            lifetime,
        )
        .await?;
    Ok(HttpResponse::Created().json(IssuedTokenResponse {
        data: IssuedTokenView::from(&issued),
    }))
}

/// Revokes one of the caller's tokens. Another user's token id is 404, like an unknown one.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[delete("/auth/tokens/{id}")]
pub async fn revoke_token(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Admin)?;
    let id = uuid::Uuid::try_parse(&path.into_inner())
        .map_err(|_| ApiError::not_found("no such token"))?;
    services.identity.revoke_token(&auth.session, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
