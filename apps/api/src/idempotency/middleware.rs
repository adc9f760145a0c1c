//! The middleware: read the key, claim it, run the handler in its own task, keep a success
//! or release the key; replay a kept answer.

use super::{HEADER, Idempotency, caller};
use crate::error::ApiError;
use crate::extract::{Auth, TENANT_HEADER};
use crate::request_id;
use crate::wiring::Services;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, ResponseError, web};
use chom_kernel::idempotency::{Claim, Fingerprint, IdempotencyKey, NewClaim};
use futures::{FutureExt as _, StreamExt as _};
use std::panic::AssertUnwindSafe;
use time::OffsetDateTime;
use tracing::Instrument as _;
use uuid::Uuid;

pub(super) fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", detail)
}

pub(super) fn in_use() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_KEY_IN_USE",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .with_header("Retry-After", "1")
}

pub(super) fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was used for a different request (method, path, tenant or body)",
    )
}

pub(super) fn refuse(req: ServiceRequest, error: &ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

pub(super) async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Reads the whole body (at most `limit` bytes) so it can be fingerprinted, then puts it back
/// for the handler.
pub(super) async fn take_body(
    req: &mut ServiceRequest,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the body is larger than {limit} bytes"),
        )
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    req.set_payload(Payload::from(body.clone()));
    Ok(body)
}

/// The middleware (see the module documentation).
///
/// # Errors
/// Those of the inner services, passed on.
pub async fn honour(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST {
        return pass(req, next).await;
    }
    let mut values = req.headers().get_all(HEADER);
    let Some(raw) = values.next() else {
        return pass(req, next).await;
    };
    if values.next().is_some() {
        return Ok(refuse(req, &invalid("send one Idempotency-Key header")));
    }
    let key = match IdempotencyKey::parse(raw.as_bytes()) {
        Ok(key) => key,
        Err(e) => {
            return Ok(refuse(
                req,
                &invalid(format!(
                    "{e}: send 1 to 255 printable ASCII characters (a UUID is a good key)"
                )),
            ));
        }
    };
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return pass(req, next).await;
    }
    let Some(services) = req.app_data::<web::Data<Services>>().cloned() else {
        return Ok(refuse(
            req,
            &ApiError::internal(anyhow::anyhow!("services not configured")),
        ));
    };
    let Ok(auth) = req.extract::<Auth>().await else {
        // The handler refuses the token (or the route needs none): nothing to remember.
        return pass(req, next).await;
    };
    let caller = caller(auth.session.token.id);
    let idem = services.idempotency.clone();
    let body = match take_body(&mut req, idem.max_body).await {
        Ok(body) => body,
        Err(e) => return Ok(refuse(req, &e)),
    };
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let tenant = req.headers().get(TENANT_HEADER).map(|v| v.as_bytes());
    let fingerprint = Fingerprint::of(req.method().as_str(), &target, tenant, &body);
    let lock = Uuid::new_v4();
    let claim = NewClaim {
        caller: &caller,
        key: &key,
        fingerprint,
        lock,
        now: OffsetDateTime::now_utc(),
    };
    match idem.store.claim(&claim).await {
        Err(e) => Ok(refuse(req, &e.into())),
        Ok(Claim::Acquired) => run(req, next, idem, caller, key, lock).await,
        Ok(Claim::InFlight { fingerprint: f }) if f == fingerprint => Ok(refuse(req, &in_use())),
        Ok(Claim::Completed {
            fingerprint: f,
            response,
        }) if f == fingerprint => match idem.replay(response) {
            Ok(res) => Ok(req.into_response(res)),
            Err(e) => Ok(refuse(req, &e)),
        },
        Ok(Claim::InFlight { .. } | Claim::Completed { .. }) => Ok(refuse(req, &reused())),
    }
}

/// Runs the request holding the key, in a task of its own (see the module documentation);
/// keeps a successful answer, releases the key otherwise (an error, a panic).
pub(super) async fn run(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    idem: Idempotency,
    caller: String,
    key: IdempotencyKey,
    lock: Uuid,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let call = next.call(req);
    let request_id = request_id::current_request_id().unwrap_or_default();
    let work = async move {
        match AssertUnwindSafe(call).catch_unwind().await {
            Ok(Ok(res)) if res.status().is_success() || res.status().is_redirection() => {
                let (http_req, response) = res.into_parts();
                let status = response.status();
                let (head, body) = response.into_parts();
                let bytes = match actix_web::body::to_bytes(body).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        idem.release(&caller, &key, lock).await;
                        let e: Box<dyn std::error::Error> = e.into();
                        return Ok(Err(ApiError::internal(anyhow::anyhow!(
                            "reading the answer: {e}"
                        ))
                        .into()));
                    }
                };
                idem.record(&caller, &key, lock, status, head.headers(), &bytes)
                    .await;
                let response = head.set_body(bytes).map_into_boxed_body();
                Ok(Ok(ServiceResponse::new(http_req, response)))
            }
            Ok(Ok(res)) => {
                idem.release(&caller, &key, lock).await;
                Ok(Ok(res.map_into_boxed_body()))
            }
            Ok(Err(error)) => {
                idem.release(&caller, &key, lock).await;
                Ok(Err(error))
            }
            Err(panic) => {
                idem.release(&caller, &key, lock).await;
                Err(panic)
            }
        }
    };
    let task = actix_web::rt::spawn(
        request_id::scope(request_id, work).instrument(tracing::Span::current()),
    );
    match task.await {
        Ok(Ok(outcome)) => outcome,
        // The request-level middleware turns a panic into a 500 with the request id.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => {
            Err(ApiError::internal(anyhow::anyhow!("the request's task stopped: {e}")).into())
        }
    }
}
