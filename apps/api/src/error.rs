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
    pub status: u16,
    /// This occurrence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code, UPPER_SNAKE.
    pub code: String,
    /// The request's correlation id (also in the `X-Request-Id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members specific to the problem type (readiness checks, limits…).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error the API answers with.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
    source: Option<anyhow::Error>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// An error with `status`, `code` and a human `detail`.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: Some(detail.into()),
            errors: Vec::new(),
            extensions: None,
            source: None,
        }
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
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_FAILED",
                "the request has invalid fields",
            )
        }
    }

    /// 500 `INTERNAL_ERROR`; `source` is logged, never sent.
    #[must_use]
    pub fn internal(source: anyhow::Error) -> Self {
        Self {
            source: Some(source),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "an unexpected error occurred; quote the request id when reporting it",
            )
        }
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
        self.extensions = Some(ext);
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The body.
    #[must_use]
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!(
                "urn:chom:problem:{}",
                self.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            request_id: current_request_id(),
            errors: self.errors.clone(),
            extensions: self.extensions.clone(),
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
            other => Self::internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(code = self.code, error = %format!("{source:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/problem+json");
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(self.problem())
    }
}
