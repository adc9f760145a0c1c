//! Named API tokens: list, create (never stronger than the caller's token), revoke.

use super::*;
use crate::routes::paging::{PageMeta, PageQuery};

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
    /// Paging.
    pub meta: PageMeta,
}

pub fn token_view(t: &ApiToken, current: uuid::Uuid) -> TokenView {
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

/// The caller's live tokens, newest first (cursor pagination).
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = TokenList),
        (status = 401, description = "`UNAUTHENTICATED`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/auth/tokens")]
pub async fn list_tokens(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let page = query.page::<uuid::Uuid>()?;
    let tokens = services
        .identity
        .list_tokens(&auth.session, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(TokenList {
        meta: PageMeta::after(&tokens, page.limit, |t| t.id.simple().to_string()),
        data: tokens
            .iter()
            .map(|t| token_view(t, auth.session.token.id))
            .collect(),
    }))
}

/// New token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "deploy bot", "abilities": ["read", "write"], "expires_in_days": 30}))]
pub struct CreateTokenRequest {
    /// Label: 1–100 printable characters.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100)]
    pub name: String,
    /// At least one of `read`, `read:sensitive`, `write`, `admin` (at most what this request's
    /// token has).
    #[serde(default)]
    #[schema(required = true, min_items = 1)]
    pub abilities: Vec<String>,
    /// Lifetime in days, 1–365 (default 90).
    #[serde(default)]
    #[schema(nullable = false, minimum = 1, maximum = 365)]
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
