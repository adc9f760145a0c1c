//! Sessions: login with every refusal code, logout, `me`, refresh.

use super::*;

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "jane@example.com", "password": "correct horse battery"}))]
pub struct LoginRequest {
    /// E-mail (a wrong or malformed one is 401 `INVALID_CREDENTIALS`, like a wrong password).
    #[serde(default)]
    #[schema(required = true, format = Email)]
    pub email: String,
    /// Password.
    #[serde(default)]
    #[schema(required = true, format = Password)]
    pub password: String,
    /// Current TOTP code (six digits), when 2FA is on.
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{6}$", example = "123456")]
    pub totp_code: Option<String>,
    /// A recovery code instead of the TOTP code.
    #[serde(default)]
    #[schema(nullable = false)]
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
        (status = 429, description = "`RATE_LIMITED` (per client address; an account slows down after 10 wrong passwords in 15 min, and refuses codes after 5 wrong ones)", body = Problem, content_type = "application/problem+json")))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    ratelimit::auth_route(&services, &req).await?;
    let b = body.0;
    let checks = Checks {
        password: true,
        code: b.totp_code.is_some() || b.recovery_code.is_some(),
    };
    let second = match (b.totp_code, b.recovery_code) {
        (Some(code), _) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::Recovery(code)),
        (None, None) => None,
    };
    let (user, issued) = Account::of_email(&services, &b.email)
        .attempt(
            checks,
            services.identity.login(&b.email, &b.password, second),
        )
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
    params(("X-Tenant-Id" = Option<String>, Header, description = "Tenant to act for, in any organization the caller belongs to (default: the default tenant of the caller's oldest membership)")),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "`UNAUTHENTICATED`, `TOKEN_EXPIRED`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`EMAIL_NOT_VERIFIED`, `ACCOUNT_PENDING_APPROVAL`, `ACCOUNT_REJECTED`, `ORGANIZATION_SUSPENDED`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TENANT_NOT_FOUND`: `X-Tenant-Id` names no tenant of an organization the caller belongs to", body = Problem, content_type = "application/problem+json")))]
#[get("/auth/me")]
pub async fn me(auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    // Everything comes from the session read while authenticating: no further query.
    let s = &auth.session;
    Ok(HttpResponse::Ok().json(MeResponse {
        data: MeView {
            user: UserView::from(&s.user),
            organization: auth.organization.as_ref().map(OrganizationView::from),
            tenant: auth.tenant_record.as_ref().map(TenantView::from),
            role: auth.membership.map(|(_, r)| r.as_str().to_owned()),
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
