//! The one middleware every request goes through: request id, request span, access log,
//! Prometheus metrics by route template, and panic containment (a panicking handler answers
//! 500 problem+json with the request id; the worker thread keeps serving).

use crate::error::ApiError;
use crate::request_id;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tracing::Instrument;

/// See the module documentation.
///
/// # Errors
/// Never: errors of inner services are rendered as responses here.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id::assign(&req);
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let path = req.path().to_owned();
    let http_method = req.method().clone();
    let client = req
        .app_data::<actix_web::web::Data<crate::wiring::Services>>()
        .map_or_else(
            || "unknown".to_owned(),
            |s| crate::ratelimit::client_ip(s, req.request()),
        );
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route, client = %client);

    let outcome = request_id::scope(
        id.clone(),
        AssertUnwindSafe(next.call(req).instrument(span.clone())).catch_unwind(),
    )
    .await;

    let mut response = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(error)) => {
            let res = request_id::scope(id.clone(), async { error.error_response() }).await;
            ServiceResponse::new(detached_request(http_method, &path), res)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            metrics::counter!("chom_http_panics_total").increment(1);
            let res = request_id::scope(id.clone(), async {
                span.in_scope(|| {
                    ApiError::internal(anyhow::anyhow!("handler panicked: {message}"))
                        .error_response()
                })
            })
            .await;
            ServiceResponse::new(detached_request(http_method, &path), res)
        }
    };

    if needs_problem_body(&response) {
        // A framework-made error (405 from a resource, 400 from an extractor without a
        // handler…): give it the same problem+json shape as ours.
        let status = response.status();
        let detail = status.canonical_reason().unwrap_or("error").to_lowercase();
        let res = request_id::scope(id.clone(), async {
            ApiError::new(status, code_for(status), detail).error_response()
        })
        .await;
        let (req, _) = response.into_parts();
        response = ServiceResponse::new(req, res);
    }
    let decision = actix_web::HttpMessage::extensions(response.request())
        .get::<chom_kernel::cache::RateDecision>()
        .copied();
    if let Some(decision) = decision {
        for (name, value) in crate::ratelimit::headers(&decision) {
            let name = HeaderName::from_static(match name {
                "RateLimit-Limit" => "ratelimit-limit",
                "RateLimit-Remaining" => "ratelimit-remaining",
                _ => "ratelimit-reset",
            });
            if !response.headers().contains_key(&name)
                && let Ok(value) = HeaderValue::from_str(&value)
            {
                response.headers_mut().insert(name, value);
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    Ok(response)
}

fn needs_problem_body(res: &ServiceResponse<BoxBody>) -> bool {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    !res.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// The stable code of a bare HTTP error status.
fn code_for(status: actix_web::http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        406 => "NOT_ACCEPTABLE",
        408 => "REQUEST_TIMEOUT",
        413 => "PAYLOAD_TOO_LARGE",
        414 => "URI_TOO_LONG",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        429 => "RATE_LIMITED",
        431 => "HEADERS_TOO_LARGE",
        503 => "SERVICE_UNAVAILABLE",
        s if s >= 500 => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}

/// A stand-in request for responses made after the real one was consumed by a panic. The real
/// `HttpRequest` cannot be cloned before routing (the router needs it unshared), and a response
/// only needs a request for logging middleware further out, of which there is none.
fn detached_request(method: actix_web::http::Method, path: &str) -> actix_web::HttpRequest {
    actix_web::test::TestRequest::default()
        .method(method)
        .uri(path)
        .to_http_request()
}

/// An answer as the client receives it, shown to an [`Observer`].
#[derive(Debug)]
pub struct Answer<'a> {
    pub method: &'a actix_web::http::Method,
    /// The request's path, without the query.
    pub path: &'a str,
    pub status: actix_web::http::StatusCode,
    pub headers: &'a actix_web::http::header::HeaderMap,
    /// The whole body; `None` for an event stream, which is passed on unread.
    pub body: Option<&'a [u8]>,
}

/// Sees every answer before it is sent (the API tests check each against the OpenAPI
/// document). Called on the server's threads: a panic there is not the test's.
pub type Observer = std::sync::Arc<dyn Fn(&Answer<'_>) + Send + Sync>;

/// Shows every answer to the tests' [`Observer`] (`startup::Hooks::observer`): buffers
/// the body, shows it, and sends the same bytes. An event stream is shown unread (its body
/// never ends). Mounted only when an observer is set.
///
/// # Errors
/// Those of the inner service, and a body that fails while it is read.
pub async fn show_answer(
    observer: Option<Observer>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let res = next.call(req).await?;
    let Some(observer) = observer else {
        return Ok(res.map_into_boxed_body());
    };
    let streamed = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streamed {
        observer(&Answer {
            method: &method,
            path: &path,
            status: res.status(),
            headers: res.headers(),
            body: None,
        });
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        actix_web::error::ErrorInternalServerError(e.to_string())
    })?;
    observer(&Answer {
        method: &method,
        path: &path,
        status: res.status(),
        headers: res.headers(),
        body: Some(&bytes),
    });
    Ok(ServiceResponse::new(
        req,
        res.set_body(bytes).map_into_boxed_body(),
    ))
}

/// Puts `server.body_timeout_ms` on reading the request body, from the start of the request
/// (L5): past it, the body reads fail, and the answer is 408 `REQUEST_TIMEOUT` whatever the
/// reader made of the failure. Header slowloris is handled by actix (`client_request_timeout`);
/// without this, a client sending a byte every few seconds would hold a connection for ever.
///
/// # Errors
/// Those of the inner service.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    use futures::StreamExt as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let expired = Arc::new(AtomicBool::new(false));
    let limit = req
        .app_data::<actix_web::web::Data<crate::wiring::Services>>()
        .map_or(std::time::Duration::from_secs(10), |s| s.body_timeout);
    let deadline = tokio::time::Instant::now() + limit;
    let payload = actix_web::HttpMessage::take_payload(&mut req);
    let flag = expired.clone();
    let guarded = futures::stream::unfold(Some(payload), move |state| {
        let flag = flag.clone();
        async move {
            let mut payload = state?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::SeqCst);
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body was not received in time",
                    );
                    Some((Err(actix_web::error::PayloadError::Io(e)), None))
                }
            }
        }
    });
    req.set_payload(actix_web::dev::Payload::Stream {
        payload: Box::pin(guarded),
    });
    let res = next.call(req).await?.map_into_boxed_body();
    if !expired.load(Ordering::SeqCst) {
        return Ok(res);
    }
    let (req, _) = res.into_parts();
    let timeout = ApiError::new(
        actix_web::http::StatusCode::REQUEST_TIMEOUT,
        "REQUEST_TIMEOUT",
        format!(
            "the body must arrive within {} ms of the request",
            limit.as_millis()
        ),
    )
    .with_header("Connection", "close");
    Ok(ServiceResponse::new(req, timeout.error_response()))
}
