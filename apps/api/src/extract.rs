//! Request extractors: the authenticated caller (`Auth`, `SuperAdmin`) and JSON bodies whose
//! errors name the offending field (`Body<T>`).

use crate::error::ApiError;
use crate::wiring::Services;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use chom_auth::Ability;
use chom_kernel::audit::{Actor, Origin};
use chom_kernel::{OrganizationId, Role, TenantContext, TenantId};
use chom_team::Action;
use chom_tenancy::identity::Session;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// The header choosing a tenant when the caller's organization has several.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// An authenticated caller: the session, and (for organization members) the tenant the request
/// acts for and the member's role. Only this extractor builds a `TenantContext`.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The session behind the bearer token.
    pub session: Session,
    /// The tenant this request acts for (none for super admins outside any organization).
    pub tenant: Option<TenantContext>,
    /// That tenant's record, as read while authenticating.
    pub tenant_record: Option<chom_tenancy::model::Tenant>,
    /// The organization this request acts in and the caller's role there: the one of the
    /// tenant `X-Tenant-Id` names (any organization the caller is a member of), else the
    /// caller's oldest membership.
    pub membership: Option<(OrganizationId, Role)>,
    /// That organization's record.
    pub organization: Option<chom_tenancy::model::Organization>,
}

impl Auth {
    /// Refuses with 403 `INSUFFICIENT_ABILITY` unless the token grants `ability`.
    ///
    /// # Errors
    /// The token lacks the ability.
    pub fn require(&self, ability: Ability) -> Result<(), ApiError> {
        if self.session.token.abilities.allows(ability) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "INSUFFICIENT_ABILITY",
                format!("this token lacks the `{}` ability", ability.as_str()),
            ))
        }
    }

    /// The caller's organization and role.
    ///
    /// # Errors
    /// 403 when the caller belongs to no organization (a bare super admin).
    pub fn membership(&self) -> Result<(OrganizationId, Role), ApiError> {
        self.membership
            .ok_or_else(|| ApiError::forbidden("this account belongs to no organization"))
    }

    /// Refuses with 403 unless the member's role allows `action` (team policy).
    ///
    /// # Errors
    /// No membership, or the role does not allow it.
    pub fn authorize(&self, action: Action) -> Result<(OrganizationId, Role), ApiError> {
        let (org, role) = self.membership()?;
        if chom_team::allows(role, action) {
            Ok((org, role))
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role does not allow this",
                role.as_str()
            )))
        }
    }

    /// The caller, as the audit trail records it.
    #[must_use]
    pub fn actor(&self) -> Actor {
        self.session.actor()
    }

    /// The tenant this request acts for.
    ///
    /// # Errors
    /// 403 when the caller has none.
    pub fn tenant(&self) -> Result<&TenantContext, ApiError> {
        self.tenant
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("this account acts for no tenant"))
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Where a request came from, for the audit trail: the client address (after the trusted
/// proxies), the user agent and the request id.
pub fn origin(req: &HttpRequest, services: &Services) -> Origin {
    Origin::new(
        services.proxies.of(req).map(|ip| ip.to_string()),
        req.headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned),
        crate::request_id::current_request_id(),
    )
}

fn tenant_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "TENANT_NOT_FOUND",
        "no such tenant in your organization",
    )
}

async fn authenticate(req: HttpRequest) -> Result<Auth, ApiError> {
    // No token is 401 whatever else is wrong (the routes' test relies on it to find the
    // operations that need one).
    let token = bearer(&req).ok_or_else(ApiError::unauthenticated)?;
    let services = req
        .app_data::<web::Data<Services>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("services not configured")))?
        .clone();
    let mut session = services.identity.authenticate(token).await?;
    session.origin = origin(&req, &services);
    let requested = req
        .headers()
        .get(TENANT_HEADER)
        .map(|v| v.to_str().ok().and_then(|s| s.parse::<TenantId>().ok()));
    let (membership, record, organization) = match (session.membership, requested) {
        (_, Some(None)) => {
            return Err(ApiError::field(
                TENANT_HEADER,
                "INVALID_FORMAT",
                "X-Tenant-Id must be a UUID",
            ));
        }
        (_, Some(Some(wanted))) => {
            let ports = services.identity.ports();
            let Some(t) = ports.orgs.get_tenant(wanted).await? else {
                return Err(tenant_not_found());
            };
            // The caller's own organization, or another one they are a member of; existing
            // or not, a tenant of any other organization is unknown to them: 404, like any
            // foreign id (no existence oracle).
            let (role, organization) = match session.membership {
                Some((org, role)) if org == t.organization_id => {
                    (role, session.organization.clone())
                }
                _ => {
                    let Some(m) = ports
                        .orgs
                        .membership_in(session.user_id, t.organization_id)
                        .await?
                    else {
                        return Err(tenant_not_found());
                    };
                    // That organization passes the same gate as the caller's own did.
                    let o = ports.orgs.get_organization(t.organization_id).await?;
                    if let Some(o) = &o {
                        chom_tenancy::identity::org_gate(o.approval, o.status)?;
                    }
                    (m.role, o)
                }
            };
            (Some((t.organization_id, role)), Some(t), organization)
        }
        (m @ Some(_), None) => (
            m,
            session.default_tenant.clone(),
            session.organization.clone(),
        ),
        (None, None) => (None, None, None),
    };
    let decision =
        crate::ratelimit::api_token(&services, session.token.id, record.as_ref()).await?;
    // The middleware copies it into the answer's `RateLimit-*` headers.
    actix_web::HttpMessage::extensions_mut(&req).insert(decision);
    // A tenant is only ever granted through a membership (above), whose role it carries.
    let tenant = record.as_ref().zip(membership).map(|(t, (org, role))| {
        TenantContext::authenticated(org, t.id, session.user_id, role)
            .with_origin(session.origin.clone())
    });
    Ok(Auth {
        session,
        tenant,
        tenant_record: record,
        membership,
        organization,
    })
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// A super admin whose token carries the `admin` ability.
#[derive(Debug, Clone)]
pub struct SuperAdmin(pub Auth);

impl FromRequest for SuperAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticate(req.clone()).await?;
            if !auth.session.is_super_admin {
                return Err(ApiError::forbidden("super admins only"));
            }
            let services = req
                .app_data::<web::Data<Services>>()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("services not configured")))?;
            if services.limits.admin_two_factor && !auth.session.user.two_factor_enabled() {
                // L14: the fleet and every account answer to this session; a password alone
                // must not be enough (2FA set-up and confirmation stay open to it).
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TWO_FACTOR_SETUP_REQUIRED",
                    "turn on two-factor authentication (POST /api/v1/auth/2fa/setup, then /confirm) before using the admin API",
                ));
            }
            auth.require(Ability::Admin)?;
            Ok(Self(auth))
        })
    }
}

/// A JSON body. Refuses a non-JSON content type (415), more than the configured size (413),
/// malformed JSON (400 `MALFORMED_JSON`) and values of the wrong type (422 with the field's
/// path in `errors`).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "send the body as application/json",
                )
                .into());
            }
            let bytes = bytes.await?;
            // Syntax first: a body that is not JSON at all (`[1,2`, `tru`) is 400, whatever
            // shape `T` expects; only well-formed JSON of the wrong shape is 422.
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                return Err(
                    ApiError::malformed_json(format!("the body is not valid JSON: {e}")).into(),
                );
            }
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(v) => Ok(Self(v)),
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    if inner.is_data() {
                        let field = if path == "." {
                            field_from_message(&inner.to_string())
                        } else {
                            path
                        };
                        Err(ApiError::field(
                            field,
                            "INVALID_TYPE",
                            strip_position(&inner.to_string()),
                        )
                        .into())
                    } else {
                        Err(ApiError::malformed_json(format!(
                            "the body is not valid JSON: {inner}"
                        ))
                        .into())
                    }
                }
            }
        })
    }
}

/// A JSON body that may be left out entirely (no bytes). A body that is present is read like
/// [`Body`] (415 if not JSON, 400 if malformed, 422 naming the bad field): never dropped.
#[derive(Debug)]
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            let body = Body::<T>::from_request(&req, &mut Payload::from(bytes)).await?;
            Ok(Self(Some(body.0)))
        })
    }
}

/// "unknown field `x`, expected …" → "x".
fn field_from_message(msg: &str) -> String {
    msg.split('`')
        .nth(1)
        .map_or_else(|| "body".to_owned(), ToOwned::to_owned)
}

fn strip_position(msg: &str) -> String {
    msg.rsplit_once(" at line ")
        .map_or(msg, |(m, _)| m)
        .to_owned()
}
