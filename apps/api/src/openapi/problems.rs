//! The refusals of the document, declared once: every problem code the API answers with (one
//! example each, in `components.examples`), the response headers (`components.headers`) and
//! each kind of refusal an operation's traits imply (`components.responses`).

use crate::error::{ApiError, FieldError};
use actix_web::http::StatusCode;
use utoipa::openapi::{
    Components, ContentBuilder, Ref, RefOr, ResponseBuilder, Type, example::ExampleBuilder,
    header::HeaderBuilder, schema::ObjectBuilder,
};

/// The media type of every refusal.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `(code, status, detail)` of every problem code the document names: each becomes the example
/// `#/components/examples/<code>`. A code named in a refusal's description and missing here
/// fails the document's tests.
pub const CODES: &[(&str, u16, &str)] = &[
    (
        "MALFORMED_JSON",
        400,
        "the body is not valid JSON: EOF while parsing a list at line 1 column 4",
    ),
    (
        "BAD_REQUEST",
        400,
        "Query deserialize error: unknown field `page`, expected `cursor` or `limit`",
    ),
    (
        "INVALID_IDEMPOTENCY_KEY",
        400,
        "the key is empty: send 1 to 255 printable ASCII characters (a UUID is a good key)",
    ),
    (
        "INVALID_TOKEN",
        400,
        "the token is unknown, used or expired",
    ),
    ("UNAUTHENTICATED", 401, "a valid bearer token is required"),
    ("TOKEN_EXPIRED", 401, "the token has expired"),
    ("INVALID_CREDENTIALS", 401, "wrong e-mail or password"),
    (
        "TWO_FACTOR_REQUIRED",
        401,
        "a valid TOTP or recovery code is required",
    ),
    ("FORBIDDEN", 403, "the viewer role does not allow this"),
    (
        "INSUFFICIENT_ABILITY",
        403,
        "this token lacks the `write` ability",
    ),
    (
        "EMAIL_NOT_VERIFIED",
        403,
        "verify your e-mail address first",
    ),
    (
        "ACCOUNT_PENDING_APPROVAL",
        403,
        "the account is waiting for approval",
    ),
    ("ACCOUNT_REJECTED", 403, "the account was rejected"),
    (
        "ORGANIZATION_SUSPENDED",
        403,
        "the organization is suspended",
    ),
    ("EMAIL_REJECTED", 403, "this e-mail address cannot sign up"),
    (
        "TWO_FACTOR_SETUP_REQUIRED",
        403,
        "turn on two-factor authentication (POST /api/v1/auth/2fa/setup, then /confirm) before using the admin API",
    ),
    ("TENANT_NOT_ACTIVE", 403, "the tenant is not active"),
    (
        "PLAN_NOT_SELECTED",
        403,
        "select a plan first (PUT /api/v1/tenant/plan)",
    ),
    ("SITE_LIMIT_EXCEEDED", 403, "the plan allows 5 sites"),
    (
        "STORAGE_LIMIT_EXCEEDED",
        403,
        "the plan allows 10737418240 bytes of backups and the tenant uses 10737418240",
    ),
    (
        "SEAT_LIMIT_EXCEEDED",
        403,
        "the plan allows 3 members (open invitations count): upgrade, or revoke an invitation",
    ),
    (
        "INVITATION_EMAIL_MISMATCH",
        403,
        "this invitation is for another e-mail address",
    ),
    ("NOT_FOUND", 404, "no such resource"),
    (
        "TENANT_NOT_FOUND",
        404,
        "no such tenant in your organization",
    ),
    (
        "INVITATION_NOT_FOUND",
        404,
        "no invitation has this token (a newer e-mail may have replaced it)",
    ),
    (
        "METHOD_NOT_ALLOWED",
        405,
        "DELETE is not allowed here; allowed: GET, POST",
    ),
    (
        "REQUEST_TIMEOUT",
        408,
        "the body must arrive within 10000 ms of the request",
    ),
    ("CONFLICT", 409, "conflicts with the current state"),
    (
        "IDEMPOTENCY_KEY_IN_USE",
        409,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    ),
    (
        "EMAIL_TAKEN",
        409,
        "this e-mail address is already registered",
    ),
    ("USERNAME_TAKEN", 409, "this username is taken"),
    ("DOMAIN_TAKEN", 409, "the tenant already has this domain"),
    ("HOSTNAME_TAKEN", 409, "a server with this host name exists"),
    (
        "INVALID_STATE",
        409,
        "not possible while the site is creating",
    ),
    (
        "OPERATION_IN_PROGRESS",
        409,
        "operation 0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e is still running on this site",
    ),
    ("NO_DATABASE", 409, "the site has no database yet"),
    ("BACKUP_NOT_COMPLETED", 409, "the backup is running"),
    (
        "HOST_KEY_NOT_TRUSTED",
        409,
        "trust the server's host key first (POST …/trust-host-key)",
    ),
    (
        "HOST_KEY_UNEXPECTED",
        409,
        "the server presents SHA256:…, not the expected key: nothing was pinned",
    ),
    (
        "HOST_KEY_ALREADY_PINNED",
        409,
        "a host key is pinned: name the presented key (`expected_key`) or prove the pinned one (`replace`, `old_fingerprint`)",
    ),
    (
        "VPS_HAS_SITES",
        409,
        "2 site record(s) name this server (deleted sites keep theirs for their history)",
    ),
    (
        "VPS_NOT_DECOMMISSIONED",
        409,
        "decommission the server first",
    ),
    (
        "INVITATION_PENDING",
        409,
        "this address has an open invitation already: resend or revoke it",
    ),
    (
        "ALREADY_MEMBER",
        409,
        "already a member of this organization",
    ),
    (
        "ACCOUNT_EXISTS",
        409,
        "an account exists for this address: log in, then accept with your token",
    ),
    (
        "LAST_OWNER",
        409,
        "the last owner cannot leave, be removed or be demoted: make someone else owner first",
    ),
    (
        "INVITATION_EXPIRED",
        410,
        "the invitation has expired: ask for a new one",
    ),
    ("INVITATION_REVOKED", 410, "the invitation was revoked"),
    (
        "INVITATION_ALREADY_USED",
        410,
        "the invitation was used already",
    ),
    (
        "PAYLOAD_TOO_LARGE",
        413,
        "the body is larger than 262144 bytes",
    ),
    (
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "send the body as application/json",
    ),
    ("VALIDATION_FAILED", 422, "the request has invalid fields"),
    (
        "IDEMPOTENCY_KEY_REUSED",
        422,
        "this Idempotency-Key was used for a different request (method, path, tenant or body)",
    ),
    ("RATE_LIMITED", 429, "too many requests; retry in 12 s"),
    (
        "TOO_MANY_STREAMS",
        429,
        "this token has 5 event streams open; close one",
    ),
    (
        "INTERNAL_ERROR",
        500,
        "an unexpected error occurred; quote the request id when reporting it",
    ),
    (
        "HOST_KEY_MISMATCH",
        502,
        "the host key of 203.0.113.7:22 changed: nothing was sent; re-trust it only if the change is expected",
    ),
    ("VPS_UNREACHABLE", 502, "connection refused"),
    ("AGENT_ERROR", 502, "COMMAND_FAILED: nginx -t failed"),
    (
        "SERVER_ERROR",
        502,
        "SERVER_UNREACHABLE: the server could not be reached",
    ),
    (
        "SERVICE_UNAVAILABLE",
        503,
        "the database is unavailable; retry shortly",
    ),
    ("NOT_READY", 503, "not ready: database failed"),
    ("NO_CAPACITY", 503, "no server has room for a new site"),
];

/// The codes of field errors (`errors[].code` of a 422): named in descriptions, they are not
/// problem codes.
pub const FIELD_CODES: &[&str] = &[
    "REQUIRED",
    "INVALID_VALUE",
    "INVALID_FORMAT",
    "INVALID_TYPE",
    "INVALID_DOMAIN",
    "NOT_ALLOWED",
    "OUT_OF_RANGE",
    "TOO_SHORT",
    "TOO_LONG",
    "TOO_WEAK",
];

/// The example problem document of `code`, built by the API's own error type.
fn example_value(code: &'static str, status: u16, detail: &str) -> serde_json::Value {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = match code {
        "VALIDATION_FAILED" => ApiError::validation(vec![FieldError {
            field: "domain".into(),
            code: "INVALID_DOMAIN".into(),
            message: "invalid domain \"shop\": needs at least two labels".into(),
        }]),
        "SITE_LIMIT_EXCEEDED" => ApiError::new(status, code, detail).with_extensions(
            [("current".to_owned(), 5.into()), ("limit".to_owned(), 5.into())]
                .into_iter()
                .collect(),
        ),
        "STORAGE_LIMIT_EXCEEDED" => ApiError::new(status, code, detail).with_extensions(
            [
                ("used_bytes".to_owned(), 10_737_418_240_i64.into()),
                ("limit_bytes".to_owned(), 10_737_418_240_i64.into()),
            ]
            .into_iter()
            .collect(),
        ),
        "NOT_READY" => ApiError::new(status, code, detail).with_extensions(
            [
                ("failed".to_owned(), serde_json::json!(["database"])),
                (
                    "checks".to_owned(),
                    serde_json::json!({"database": {"status": "failed", "backend": "postgres", "latency_ms": 2000.0, "error": "timed out after 2 s"}}),
                ),
            ]
            .into_iter()
            .collect(),
        ),
        _ => ApiError::new(status, code, detail),
    };
    let mut value = serde_json::to_value(error.problem()).unwrap_or_default();
    value["request_id"] = "0190f5c2-7b1e-7c3a-9d4e-2f6a8b0c1d2e".into();
    value
}

/// The status of a known problem code.
#[must_use]
pub fn status_of(code: &str) -> Option<u16> {
    CODES.iter().find(|(c, ..)| *c == code).map(|(_, s, _)| *s)
}

/// The problem codes a description names: its backquoted UPPER_SNAKE words, but the codes of
/// field errors.
#[must_use]
pub fn codes_in(description: &str) -> Vec<&str> {
    let mut codes: Vec<&str> = Vec::new();
    for w in description.split('`').skip(1).step_by(2) {
        let code = w.len() >= 4
            && w.starts_with(|c: char| c.is_ascii_uppercase())
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !FIELD_CODES.contains(&w);
        if code && !codes.contains(&w) {
            codes.push(w);
        }
    }
    codes
}

/// A response header of the document: `(component name, description, schema type)`.
pub const HEADERS: &[(&str, &str, Type)] = &[
    (
        "X-Request-Id",
        "The request's correlation id (a valid incoming `X-Request-Id` is kept; problem bodies carry it as `request_id`).",
        Type::String,
    ),
    (
        "RateLimit-Limit",
        "Requests this token may send per window (its tenant's plan, or the default).",
        Type::Integer,
    ),
    (
        "RateLimit-Remaining",
        "Requests left in the current window.",
        Type::Integer,
    ),
    (
        "RateLimit-Reset",
        "Seconds until the window resets.",
        Type::Integer,
    ),
    (
        "RateLimit-Policy",
        "The limit and its window in seconds (`100;w=60`).",
        Type::String,
    ),
    (
        "Retry-After",
        "Seconds to wait before retrying.",
        Type::Integer,
    ),
    (
        "WWW-Authenticate",
        "The Bearer challenge (`Bearer`, or `Bearer error=\"invalid_token\", error_description=\"expired\"`).",
        Type::String,
    ),
    (
        "Location",
        "The operation doing the work (`/api/v1/operations/{id}`): poll it, or stream `…/events`.",
        Type::String,
    ),
    (
        "Idempotent-Replayed",
        "`true` when this is the kept answer of an earlier request with the same `Idempotency-Key`, replayed instead of acting again.",
        Type::String,
    ),
    (
        "Allow",
        "The methods the path accepts (`GET, POST`).",
        Type::String,
    ),
];

/// The `RateLimit-*` headers of every answer to an authenticated request.
pub const RATE_LIMIT_HEADERS: [&str; 3] =
    ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

/// A reference to a header component.
#[must_use]
pub fn header_ref(name: &str) -> RefOr<utoipa::openapi::Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

/// A reference to an example component.
#[must_use]
pub fn example_ref(code: &str) -> RefOr<utoipa::openapi::example::Example> {
    RefOr::Ref(Ref::new(format!("#/components/examples/{code}")))
}

/// One kind of refusal, implied by a trait of the operation (a body, a bearer token…):
/// declared once as `#/components/responses/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The component's name.
    pub name: &'static str,
    /// The status.
    pub status: u16,
    /// The codes and when they are answered.
    pub description: &'static str,
    /// The codes (one example each).
    pub codes: &'static [&'static str],
    /// Its headers (besides `X-Request-Id`, on every answer).
    pub headers: &'static [&'static str],
    /// Whether it is only answered after authentication (`RateLimit-*` then).
    pub authenticated: bool,
    /// What it adds to a description that already names all its codes (the route's own, or
    /// another kind's): empty when nothing.
    pub also: &'static str,
}

const fn kind(
    name: &'static str,
    status: u16,
    description: &'static str,
    codes: &'static [&'static str],
) -> Kind {
    Kind {
        name,
        status,
        description,
        codes,
        headers: &[],
        authenticated: false,
        also: "",
    }
}

/// A body that is not JSON at all, or could not be read.
pub const MALFORMED_BODY: Kind = kind(
    "MalformedBody",
    400,
    "`MALFORMED_JSON`: the body is not JSON at all (`[1,2`, `tru`), whatever shape the operation expects; `BAD_REQUEST`: the body could not be read",
    &["MALFORMED_JSON", "BAD_REQUEST"],
);
/// A malformed `Idempotency-Key` (checked on every POST under `/api/v1`, with a token or not).
pub const INVALID_IDEMPOTENCY_KEY: Kind = kind(
    "InvalidIdempotencyKey",
    400,
    "`INVALID_IDEMPOTENCY_KEY`: a malformed `Idempotency-Key` header (1 to 255 printable ASCII characters, one header)",
    &["INVALID_IDEMPOTENCY_KEY"],
);
/// A query string the operation does not understand.
pub const BAD_QUERY: Kind = Kind {
    also: "also for a query parameter the operation does not know (`page=2`) or a value of the wrong type (`limit=ten`)",
    ..kind(
        "BadQuery",
        400,
        "`BAD_REQUEST`: a query parameter the operation does not know (`page=2`), or a value of the wrong type (`limit=ten`)",
        &["BAD_REQUEST"],
    )
};
/// No valid bearer token.
pub const UNAUTHENTICATED: Kind = Kind {
    headers: &["WWW-Authenticate"],
    ..kind(
        "Unauthenticated",
        401,
        "`UNAUTHENTICATED`: no bearer token, or an unknown, revoked or superseded one; `TOKEN_EXPIRED`: the token has expired",
        &["UNAUTHENTICATED", "TOKEN_EXPIRED"],
    )
};
/// The caller may not do this.
pub const FORBIDDEN: Kind = Kind {
    authenticated: true,
    ..kind(
        "Forbidden",
        403,
        "`INSUFFICIENT_ABILITY`: the token lacks the ability the operation needs (`read`, `read:sensitive`, `write`, `admin`); `FORBIDDEN`: the member's role does not allow it, or the account belongs to no organization or tenant; `EMAIL_NOT_VERIFIED`, `ACCOUNT_PENDING_APPROVAL`, `ACCOUNT_REJECTED`, `ORGANIZATION_SUSPENDED`: the account may not use the API (yet)",
        &[
            "INSUFFICIENT_ABILITY",
            "FORBIDDEN",
            "EMAIL_NOT_VERIFIED",
            "ACCOUNT_PENDING_APPROVAL",
            "ACCOUNT_REJECTED",
            "ORGANIZATION_SUSPENDED",
        ],
    )
};
/// The super admin API, to anyone else.
pub const ADMIN_FORBIDDEN: Kind = Kind {
    authenticated: true,
    ..kind(
        "AdminForbidden",
        403,
        "`FORBIDDEN`: super admins only; `TWO_FACTOR_SETUP_REQUIRED`: this super admin must turn 2FA on first (`security.require_admin_two_factor`); `INSUFFICIENT_ABILITY`: the token lacks the `admin` ability; `EMAIL_NOT_VERIFIED`, `ACCOUNT_PENDING_APPROVAL`, `ACCOUNT_REJECTED`, `ORGANIZATION_SUSPENDED`: an account that is not a super admin may not use the API (yet)",
        &[
            "FORBIDDEN",
            "TWO_FACTOR_SETUP_REQUIRED",
            "INSUFFICIENT_ABILITY",
            "EMAIL_NOT_VERIFIED",
            "ACCOUNT_PENDING_APPROVAL",
            "ACCOUNT_REJECTED",
            "ORGANIZATION_SUSPENDED",
        ],
    )
};
/// An id in the path that names nothing the caller may see.
pub const NOT_FOUND: Kind = kind(
    "NotFound",
    404,
    "`NOT_FOUND`: no such resource, or one of another tenant (there is no existence oracle); an id that does not parse is unknown too",
    &["NOT_FOUND"],
);
/// `X-Tenant-Id` names a tenant outside the caller's organization.
pub const TENANT_NOT_FOUND: Kind = kind(
    "TenantNotFound",
    404,
    "`TENANT_NOT_FOUND`: `X-Tenant-Id` names no tenant of the caller's organization (existing or not)",
    &["TENANT_NOT_FOUND"],
);
/// The body did not arrive in time.
pub const REQUEST_TIMEOUT: Kind = kind(
    "RequestTimeout",
    408,
    "`REQUEST_TIMEOUT`: the body did not arrive within `server.body_timeout_ms` of the request; the connection is closed",
    &["REQUEST_TIMEOUT"],
);
/// The first request with this `Idempotency-Key` still runs.
pub const IDEMPOTENCY_KEY_IN_USE: Kind = Kind {
    headers: &["Retry-After"],
    authenticated: true,
    ..kind(
        "IdempotencyKeyInUse",
        409,
        "`IDEMPOTENCY_KEY_IN_USE`: the first request with this `Idempotency-Key` still runs; retry after `Retry-After` seconds",
        &["IDEMPOTENCY_KEY_IN_USE"],
    )
};
/// The body is too large.
pub const PAYLOAD_TOO_LARGE: Kind = kind(
    "PayloadTooLarge",
    413,
    "`PAYLOAD_TOO_LARGE`: the body is larger than `server.max_body_bytes`",
    &["PAYLOAD_TOO_LARGE"],
);
/// The body is not JSON.
pub const UNSUPPORTED_MEDIA_TYPE: Kind = kind(
    "UnsupportedMediaType",
    415,
    "`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as `application/json`",
    &["UNSUPPORTED_MEDIA_TYPE"],
);
/// Well-formed JSON of the wrong shape, or invalid values.
pub const INVALID_BODY: Kind = Kind {
    also: "also for a field of the wrong type (`INVALID_TYPE`) or an unknown field, named in `errors`",
    ..kind(
        "InvalidBody",
        422,
        "`VALIDATION_FAILED`: the body has a field of the wrong type, an unknown field, or invalid values; `errors` names each (`field`, `code`, `message`)",
        &["VALIDATION_FAILED"],
    )
};
/// A malformed `X-Tenant-Id`.
pub const INVALID_TENANT_HEADER: Kind = Kind {
    authenticated: true,
    also: "also when `X-Tenant-Id` is not a UUID (`errors[0].field` is `x-tenant-id`)",
    ..kind(
        "InvalidTenantHeader",
        422,
        "`VALIDATION_FAILED`: `X-Tenant-Id` is not a UUID (`errors[0].field` is `x-tenant-id`)",
        &["VALIDATION_FAILED"],
    )
};
/// An `Idempotency-Key` used for another request.
pub const IDEMPOTENCY_KEY_REUSED: Kind = Kind {
    authenticated: true,
    ..kind(
        "IdempotencyKeyReused",
        422,
        "`IDEMPOTENCY_KEY_REUSED`: this `Idempotency-Key` was used for another request (method, path, tenant or body)",
        &["IDEMPOTENCY_KEY_REUSED"],
    )
};
/// A rate limit.
pub const RATE_LIMITED: Kind = Kind {
    headers: &[
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
    ],
    ..kind(
        "RateLimited",
        429,
        "`RATE_LIMITED`: a rate limit is exhausted (per token and plan on authenticated requests; per client address on sign-up, login and the e-mailed links; per account on password and code checks; per tenant on sensitive operations); retry after `Retry-After` seconds",
        &["RATE_LIMITED"],
    )
};
/// Anything unexpected (a panic, a bug): the cause is logged with the request id, never sent.
pub const INTERNAL_ERROR: Kind = kind(
    "InternalError",
    500,
    "`INTERNAL_ERROR`: an unexpected error; the cause is logged with the request id, never sent",
    &["INTERNAL_ERROR"],
);
/// The database is out (or its breaker is open).
pub const SERVICE_UNAVAILABLE: Kind = Kind {
    headers: &["Retry-After"],
    ..kind(
        "ServiceUnavailable",
        503,
        "`SERVICE_UNAVAILABLE`: the database is unavailable, or its circuit breaker is open after repeated failures; retry after `Retry-After` seconds",
        &["SERVICE_UNAVAILABLE"],
    )
};
/// A method the path does not declare (answered for the path, not by an operation, so no
/// operation lists it).
pub const METHOD_NOT_ALLOWED: Kind = Kind {
    headers: &["Allow"],
    ..kind(
        "MethodNotAllowed",
        405,
        "`METHOD_NOT_ALLOWED`: the path exists but not with this method; `Allow` lists its methods. Answered for any method a path of this document does not declare",
        &["METHOD_NOT_ALLOWED"],
    )
};

/// Every kind, in the order the components list them.
pub const KINDS: &[Kind] = &[
    MALFORMED_BODY,
    INVALID_IDEMPOTENCY_KEY,
    BAD_QUERY,
    UNAUTHENTICATED,
    FORBIDDEN,
    ADMIN_FORBIDDEN,
    NOT_FOUND,
    TENANT_NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REQUEST_TIMEOUT,
    IDEMPOTENCY_KEY_IN_USE,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID_BODY,
    INVALID_TENANT_HEADER,
    IDEMPOTENCY_KEY_REUSED,
    RATE_LIMITED,
    INTERNAL_ERROR,
    SERVICE_UNAVAILABLE,
];

/// The `application/problem+json` content with the `Problem` schema and one example per code
/// of `status`.
#[must_use]
pub fn problem_content<'a>(
    status: u16,
    codes: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::Content {
    let mut content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    for code in codes {
        if status_of(code) == Some(status) {
            content.examples.insert(code.to_owned(), example_ref(code));
        }
    }
    content
}

/// Adds the examples, headers and refusal responses to the components.
pub fn register(components: &mut Components) {
    for (code, status, detail) in CODES {
        components.examples.insert(
            (*code).to_owned(),
            RefOr::T(
                ExampleBuilder::new()
                    .summary(format!("{status} {code}"))
                    .value(Some(example_value(code, *status, detail)))
                    .build(),
            ),
        );
    }
    for (name, description, schema_type) in HEADERS {
        components.headers.insert(
            (*name).to_owned(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(schema_type.clone())))
                    .description(Some(*description))
                    .build(),
            ),
        );
    }
    for kind in KINDS {
        let mut response = ResponseBuilder::new()
            .description(kind.description)
            .content(
                PROBLEM_JSON,
                problem_content(kind.status, kind.codes.iter().copied()),
            )
            .build();
        response
            .headers
            .insert("X-Request-Id".to_owned(), header_ref("X-Request-Id"));
        let rate_limit = if kind.authenticated {
            &RATE_LIMIT_HEADERS[..]
        } else {
            &[]
        };
        for header in kind.headers.iter().chain(rate_limit) {
            response
                .headers
                .insert((*header).to_owned(), header_ref(header));
        }
        components
            .responses
            .insert(kind.name.to_owned(), RefOr::T(response));
    }
}
