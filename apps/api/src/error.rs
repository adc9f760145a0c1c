//! The API's one error type: RFC 9457 `application/problem+json` with a stable `code`.
//!
//! 5xx bodies never carry internals: the cause chain is logged once, here, with the request id.

use crate::request_id::current_request_id;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field (`domain`, `settings.php_version`).
    pub field: String,
    /// Stable code (`INVALID_FORMAT`, `REQUIRED`).
    pub code: String,
    /// Human explanation.
    pub message: String,
}

/// An RFC 9457 problem document, as every error response of the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:chom:problem:<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// This occurrence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
    /// Stable machine-readable code, UPPER_SNAKE.
    pub code: String,
    /// The request's correlation id (also in the `X-Request-Id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
    /// Per-field validation errors (422 `VALIDATION_FAILED` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members specific to the problem type (readiness checks, limits…).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error the API answers with (boxed: it travels through every `Result` of a handler).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
    headers: Vec<(&'static str, String)>,
    source: Option<anyhow::Error>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0.status.as_u16(), self.0.code)?;
        if let Some(d) = &self.0.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// An error with `status`, `code` and a human `detail`.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            code,
            detail: Some(detail.into()),
            errors: Vec::new(),
            extensions: None,
            headers: Vec::new(),
            source: None,
        }))
    }

    /// Adds a response header (`Retry-After`, `WWW-Authenticate`…).
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.headers.push((name, value.into()));
        self
    }

    /// 422 with one field error.
    #[must_use]
    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    /// 404 `NOT_FOUND`: also the answer for ids of other tenants (no existence oracle).
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
    }

    /// 400 `MALFORMED_JSON`.
    #[must_use]
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_JSON", detail)
    }

    /// 422 `VALIDATION_FAILED` with per-field errors.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            "the request has invalid fields",
        );
        e.0.errors = errors;
        e
    }

    /// Field errors as the contexts report them: (field, stable code, message).
    #[must_use]
    pub fn field_errors(errors: Vec<(&'static str, &'static str, String)>) -> Vec<FieldError> {
        errors
            .into_iter()
            .map(|(field, code, message)| FieldError {
                field: field.to_owned(),
                code: code.to_owned(),
                message,
            })
            .collect()
    }

    /// 500 `INTERNAL_ERROR`; `source` is logged, never sent.
    #[must_use]
    pub fn internal(source: anyhow::Error) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "an unexpected error occurred; quote the request id when reporting it",
        );
        e.0.source = Some(source);
        e
    }

    /// 503 `SERVICE_UNAVAILABLE` (a dependency is down; retry later).
    #[must_use]
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            detail,
        )
    }

    /// Adds problem-specific members.
    #[must_use]
    pub fn with_extensions(mut self, ext: serde_json::Map<String, serde_json::Value>) -> Self {
        self.0.extensions = Some(ext);
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The body.
    #[must_use]
    pub fn problem(&self) -> Problem {
        let e = &self.0;
        Problem {
            type_: format!(
                "urn:chom:problem:{}",
                e.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: e.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: e.status.as_u16(),
            detail: e.detail.clone(),
            code: e.code.to_owned(),
            request_id: current_request_id(),
            errors: e.errors.clone(),
            extensions: e.extensions.clone(),
        }
    }
}

impl From<chom_kernel::StoreError> for ApiError {
    fn from(e: chom_kernel::StoreError) -> Self {
        match e {
            chom_kernel::StoreError::NotFound => Self::not_found("no such resource"),
            chom_kernel::StoreError::Unavailable(e) => {
                tracing::error!(error = %format!("{e:#}"), "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly")
            }
            chom_kernel::StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("conflicts with existing data ({what})"),
            ),
            other => Self::internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.0.source {
            tracing::error!(code = self.0.code, error = %format!("{source:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.0.status);
        response.content_type("application/problem+json");
        if self.0.status == StatusCode::SERVICE_UNAVAILABLE
            && !self.0.headers.iter().any(|(n, _)| *n == "Retry-After")
        {
            response.insert_header(("Retry-After", "5"));
        }
        for (name, value) in &self.0.headers {
            response.insert_header((*name, value.as_str()));
        }
        response.json(self.problem())
    }
}

impl From<chom_tenancy::identity::IdentityError> for ApiError {
    fn from(e: chom_tenancy::identity::IdentityError) -> Self {
        use chom_tenancy::identity::IdentityError as E;
        let msg = e.to_string();
        match e {
            E::Invalid(errors) => Self::validation(
                errors
                    .into_iter()
                    .map(|(field, err)| FieldError {
                        field: field.to_owned(),
                        code: err.code.to_owned(),
                        message: err.message,
                    })
                    .collect(),
            ),
            E::EmailTaken => Self::new(StatusCode::CONFLICT, "EMAIL_TAKEN", msg),
            E::UsernameTaken => Self::new(StatusCode::CONFLICT, "USERNAME_TAKEN", msg),
            E::EmailRejected => Self::new(StatusCode::FORBIDDEN, "EMAIL_REJECTED", msg),
            E::InvalidToken => Self::new(StatusCode::BAD_REQUEST, "INVALID_TOKEN", msg),
            E::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", msg)
            }
            E::EmailNotVerified => Self::new(StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED", msg),
            E::PendingApproval => Self::new(StatusCode::FORBIDDEN, "ACCOUNT_PENDING_APPROVAL", msg),
            E::Rejected => Self::new(StatusCode::FORBIDDEN, "ACCOUNT_REJECTED", msg),
            E::OrganizationSuspended => {
                Self::new(StatusCode::FORBIDDEN, "ORGANIZATION_SUSPENDED", msg)
            }
            E::TwoFactorRequired => Self::new(StatusCode::UNAUTHORIZED, "TWO_FACTOR_REQUIRED", msg),
            E::TokenExpired => Self::new(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", msg)
                .with_header(
                    "WWW-Authenticate",
                    "Bearer error=\"invalid_token\", error_description=\"expired\"",
                ),
            E::Unauthenticated => Self::unauthenticated(),
            E::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", m),
            E::NotFound => Self::not_found("no such resource"),
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "CONFLICT", m),
            E::Store(s) => s.into(),
            E::Unexpected(e) => Self::internal(e),
        }
    }
}

impl ApiError {
    /// 401 `UNAUTHENTICATED` with the Bearer challenge.
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a valid bearer token is required",
        )
        .with_header("WWW-Authenticate", "Bearer")
    }

    /// 403 `FORBIDDEN`.
    #[must_use]
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }
}
