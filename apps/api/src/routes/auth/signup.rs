//! Sign-up: registration, e-mail verification, new verification links.

use super::*;

/// Sign-up request. Every field is read leniently so that every invalid one is reported at
/// once (422 `VALIDATION_FAILED` with `errors`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "jane", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "password": "correct horse battery", "organization_name": "Acme"}))]
pub struct RegisterRequest {
    /// 3–32 characters: letters, digits, `_`, `-`, `.`, starting with a letter or digit
    /// (stored lower-cased).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        example = "jane"
    )]
    pub username: String,
    /// First name: 1–100 characters, no control characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, example = "Jane")]
    pub first_name: String,
    /// Last name: 1–100 characters, no control characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, example = "Doe")]
    pub last_name: String,
    /// E-mail (at most 254 characters); a verification link is sent there.
    #[serde(default)]
    #[schema(
        required = true,
        format = Email,
        min_length = 3,
        max_length = 254,
        example = "jane@example.com"
    )]
    pub email: String,
    /// 12–128 characters, not one repeated character, not the e-mail or the username.
    #[serde(default)]
    #[schema(required = true, format = Password, min_length = 12, max_length = 128)]
    pub password: String,
    /// Organization name, 1–100 characters (default: the user's name).
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 100, example = "Acme")]
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
#[schema(example = json!({"token": "q0CkZrQ5u2b6G1sV7yX9"}))]
pub struct TokenRequest {
    /// The token from the e-mail (an empty one is 422 `REQUIRED`).
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
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

pub fn status(s: &'static str) -> StatusResponse {
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

/// The page behind the verification e-mail's link (`…/verify-email#token=…`). Opening it
/// verifies nothing by itself: its script reads the token from the URL fragment (which no
/// browser sends to a server, so it reaches no proxy log) and POSTs it. A mail scanner that
/// prefetches the link, or a `?token=` someone pasted, consumes no token.
#[utoipa::path(get, path = "/api/v1/auth/verify-email", tag = "auth",
    responses((status = 200, description = "An HTML page that POSTs the token from its URL fragment", content_type = "text/html")))]
#[get("/auth/verify-email")]
pub async fn verify_email_link() -> HttpResponse {
    const SCRIPT: &str = r#"const t=new URLSearchParams(location.hash.slice(1)).get("token");const o=document.getElementById("out");if(!t){o.textContent="No token in this link: send the token from the e-mail to POST /api/v1/auth/verify-email.";}else{fetch("verify-email",{method:"POST",headers:{"content-type":"application/json"},body:JSON.stringify({token:t})}).then(r=>r.json().then(b=>{o.textContent=r.ok?"Your e-mail address is verified. You can close this page.":(b.detail||"This link is invalid or has expired.");})).catch(()=>{o.textContent="The server could not be reached; try again.";});}"#;
    let hash = data_encoding::BASE64.encode(&chom_kernel::crypto::sha256(SCRIPT.as_bytes()));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            format!(
                "default-src 'none'; script-src 'sha256-{hash}'; connect-src 'self'; frame-ancestors 'none'"
            ),
        ))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CHOM: verify your e-mail address</title></head><body><h1>Verify your e-mail address</h1><p id=\"out\">Verifying…</p><script>{SCRIPT}</script></body></html>"
        ))
}

/// An e-mail address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "jane@example.com"}))]
pub struct EmailRequest {
    /// The address (the answer is the same whether or not it is known, or valid).
    #[serde(default)]
    #[schema(required = true, format = Email)]
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
    let identity = services.identity.clone();
    let request_id = current_request_id();
    answer_first(async move {
        identity
            .resend_verification(&body.0.email, request_id)
            .await
    });
    Ok(HttpResponse::Accepted().json(status("accepted")))
}
