//! `Idempotency-Key` on every authenticated POST under `/api/v1`: a client that lost an answer
//! sends the request again with the same key and gets the first answer back (with
//! `Idempotent-Replayed: true`) instead of a second site, token or operation.
//!
//! The key belongs to the bearer token that sent it (after authenticating it: a revoked token
//! replays nothing, and one token never sees another's answers, even of the same user, whose
//! tokens may hold fewer abilities). Unauthenticated POSTs (sign-up, login, password reset) are
//! not covered: keyed by address, one client behind a shared NAT could replay another's login,
//! and those routes are safe to repeat anyway (a second sign-up is `EMAIL_TAKEN`, a used
//! verification token is refused).
//!
//! Only successful answers (2xx, 3xx) are kept: an error changed nothing, so the key is released
//! and a retry runs again against the present state (a 409 `OPERATION_IN_PROGRESS` must not be
//! replayed once the operation ended; a 5xx may pass next time). The handler runs in its own
//! task so that a client hanging up mid-request cannot stop the answer from being recorded: the
//! retry finds it.

use crate::error::ApiError;
use crate::extract::{Auth, TENANT_HEADER};
use crate::request_id;
use crate::wiring::Services;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, HttpResponse, ResponseError, web};
use chom_kernel::StoreError;
use chom_kernel::crypto::Sealer;
use chom_kernel::idempotency::{
    Claim, Fingerprint, IdempotencyKey, IdempotencyStore, NewClaim, StoredResponse,
};
use futures::{FutureExt as _, StreamExt as _};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use time::OffsetDateTime;
use tracing::Instrument as _;
use uuid::Uuid;

/// The request header naming a request.
pub const HEADER: &str = "idempotency-key";

/// The response header marking a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// The response headers kept with an answer (the rest describe one transmission: request id,
/// rate limits).
const KEPT_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::RETRY_AFTER,
    header::CONTENT_DISPOSITION,
];

/// The idempotency-key records and how answers are kept in them.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    sealer: Arc<Sealer>,
    max_body: usize,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Idempotency {
    /// Records in `store`; bodies sealed with `sealer` (an answer may hold a secret shown once,
    /// like a new API token); requests read up to `max_body` bytes (`server.max_body_bytes`).
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyStore>, sealer: Arc<Sealer>, max_body: usize) -> Self {
        Self {
            store,
            sealer,
            max_body,
        }
    }

    /// The records (tests hold a key through it).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.store
    }

    /// Deletes the records older than their 24 hours (the `prune-jobs` periodic job).
    ///
    /// # Errors
    /// The database failed.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(OffsetDateTime::now_utc()).await
    }

    async fn release(&self, caller: &str, key: &IdempotencyKey, lock: Uuid) {
        if let Err(e) = self.store.release(caller, key, lock).await {
            // The record stays in flight until it counts as abandoned; retries wait until then.
            tracing::error!(error = %format!("{e:#}"), "could not release an idempotency key");
        }
    }

    async fn record(
        &self,
        caller: &str,
        key: &IdempotencyKey,
        lock: Uuid,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let sealed = match self.sealer.seal(body) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not seal an answer to keep");
                return;
            }
        };
        let kept = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let response = StoredResponse {
            status: status.as_u16(),
            headers: kept,
            body: sealed.into_bytes(),
        };
        match self
            .store
            .complete(caller, key, lock, &response, OffsetDateTime::now_utc())
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!("an idempotency key was taken over before its answer"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "could not keep an answer for its idempotency key");
            }
        }
    }

    fn replay(&self, stored: StoredResponse) -> Result<HttpResponse, ApiError> {
        let body = String::from_utf8(stored.body)
            .map_err(anyhow::Error::from)
            .and_then(|sealed| self.sealer.open(&sealed).map_err(anyhow::Error::from))
            .map_err(|e| ApiError::internal(e.context("opening a kept answer")))?;
        let status = StatusCode::from_u16(stored.status)
            .map_err(|e| ApiError::internal(anyhow::Error::from(e).context("a kept status")))?;
        let mut response = HttpResponse::build(status);
        for (name, value) in stored.headers {
            response.insert_header((name, value));
        }
        response.insert_header((REPLAYED, "true"));
        Ok(response.body(body))
    }
}

/// Whose keys a request uses: its bearer token's (`token:<token id>`).
#[must_use]
pub fn caller(token_id: Uuid) -> String {
    format!("token:{}", token_id.simple())
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", detail)
}

fn in_use() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_KEY_IN_USE",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .with_header("Retry-After", "1")
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was used for a different request (method, path, tenant or body)",
    )
}

fn refuse(req: ServiceRequest, error: &ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Reads the whole body (at most `limit` bytes) so it can be fingerprinted, then puts it back
/// for the handler.
async fn take_body(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, ApiError> {
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
async fn run(
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

/// Declares the `Idempotency-Key` header on every authenticated POST of the OpenAPI document.
#[derive(Debug)]
pub struct OpenApiHeader;

impl utoipa::Modify for OpenApiHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, Type};
        const NAME: &str = "IdempotencyKey";
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Names this request so that sending it again (after a lost answer) replays the \
                 first successful answer for 24 hours, with `Idempotent-Replayed: true`, instead \
                 of acting twice. 1 to 255 printable ASCII characters (a UUID is a good key); \
                 per bearer token. Refusals: 400 `INVALID_IDEMPOTENCY_KEY`, 409 \
                 `IDEMPOTENCY_KEY_IN_USE` (the first request still runs; `Retry-After`), 422 \
                 `IDEMPOTENCY_KEY_REUSED` (the key was used for another request).",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[ -~]+$")),
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .parameters
            .insert(NAME.to_owned(), RefOr::T(parameter));
        for (path, item) in &mut openapi.paths.paths {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            if !path.starts_with("/api/v1/") || post.security.as_ref().is_none_or(Vec::is_empty) {
                continue;
            }
            post.parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::Ref(Ref::new(format!(
                    "#/components/parameters/{NAME}"
                ))));
        }
    }
}
