//! The work on a site: its operation history, one operation, and an operation's progress as
//! Server-Sent Events.

use super::views::{OperationList, OperationResponse, OperationView, StepView};
use super::{reader, site_id};
use crate::error::{ApiError, Problem};
use crate::extract::Auth;
use crate::routes::paging::{PageMeta, PageQuery};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_kernel::OperationId;
use chom_site_hosting::Operation;
use futures::StreamExt as _;
use serde::Serialize;

fn operation_id(raw: &str) -> Result<OperationId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such site or operation"))
}

/// An operation's progress.
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Operation id")),
    responses((status = 200, description = "The operation", body = OperationResponse), (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json")))]
#[get("/operations/{id}")]
pub async fn get_operation(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = reader(&auth)?;
    let op = services.sites.operation(ctx, operation_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(OperationResponse {
        data: OperationView::from(&op),
    }))
}

/// The site's operations, newest first: what was done to it, when, and how it ended.
#[utoipa::path(get, path = "/api/v1/sites/{id}/operations", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Site id"), PageQuery),
    responses(
        (status = 200, description = "A page of operations", body = OperationList),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad cursor or limit", body = Problem, content_type = "application/problem+json")))]
#[get("/sites/{id}/operations")]
pub async fn list_operations(
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = reader(&auth)?;
    let page = query.page::<OperationId>()?;
    let ops = services
        .sites
        .operations(ctx, site_id(&path)?, page.cursor, page.limit)
        .await?;
    Ok(HttpResponse::Ok().json(OperationList {
        meta: PageMeta::after(&ops, page.limit, |o| o.id.to_string()),
        data: ops.iter().map(OperationView::from).collect(),
    }))
}

fn sse(event: &str, data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    format!("event: {event}\ndata: {json}\n\n")
}

/// What changed between two readings of an operation, as SSE events: a `step` event per step
/// whose state or progress moved, then an `operation` event when the operation's own state moved.
fn changes(before: Option<&Operation>, now: &Operation) -> String {
    let mut out = String::new();
    for step in &now.steps {
        let old = before.and_then(|b| b.steps.iter().find(|s| s.name == step.name));
        if old.is_none_or(|o| {
            o.status != step.status || o.error != step.error || o.progress != step.progress
        }) {
            out.push_str(&sse("step", &StepView::from(step)));
        }
    }
    if before.is_none_or(|b| b.status != now.status) {
        out.push_str(&sse("operation", &OperationView::from(now)));
    }
    out
}

/// Open event streams per token (per API process): a token cannot hold the server's polling
/// capacity hostage (L6).
pub const STREAMS_PER_TOKEN: usize = 5;

/// How often a stream checks that its token is still valid (revoked, logged out, expired,
/// suspended: the stream ends).
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The operation's progress as Server-Sent Events: `operation` (the whole operation, first and
/// whenever its state changes) and `step` (a step that started, finished, failed, or told how
/// far it got: a backup's or restore's `progress`). The stream
/// ends when the operation succeeds or fails, after 30 minutes, or within 5 s of its token
/// being revoked. At most 5 streams per token at a time.
#[utoipa::path(get, path = "/api/v1/operations/{id}/events", tag = "sites", security(("bearer" = [])),
    params(("id" = String, Path, description = "Operation id")),
    responses((status = 200, description = "`text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 404, description = "`NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`TOO_MANY_STREAMS`: this token has 5 streams open", body = Problem, content_type = "application/problem+json")))]
#[get("/operations/{id}/events")]
pub async fn operation_events(
    req: actix_web::HttpRequest,
    auth: Auth,
    services: web::Data<Services>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Owned: the stream outlives the request and reads the operation again, as this caller.
    let ctx = reader(&auth)?.clone();
    let id = operation_id(&path)?;
    let first = services.sites.operation(&ctx, id).await?;
    let slot = services
        .streams
        .open(auth.session.token.id, STREAMS_PER_TOKEN)
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_STREAMS",
                format!("this token has {STREAMS_PER_TOKEN} event streams open; close one"),
            )
            .with_header("Retry-After", "5")
        })?;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_default();
    let sites = services.sites.clone();
    let identity = services.identity.clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30 * 60);
    let opening = changes(None, &first);
    let state = (Some(first), false, tokio::time::Instant::now());
    let stream =
        futures::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(opening)) })
            .chain(futures::stream::unfold(
                state,
                move |(last, over, checked)| {
                    let (sites, identity, bearer, ctx) =
                        (sites.clone(), identity.clone(), bearer.clone(), ctx.clone());
                    // Held as long as the stream lives; dropping the stream frees the slot.
                    let _slot = &slot;
                    async move {
                        if over || last.as_ref().is_some_and(|l| l.status.is_terminal()) {
                            return None;
                        }
                        loop {
                            if tokio::time::Instant::now() > deadline {
                                return None;
                            }
                            if checked.elapsed() >= RECHECK_EVERY {
                                if identity.authenticate(&bearer).await.is_err() {
                                    return None;
                                }
                                // A comment line: keeps proxies from timing the stream out, and
                                // lets a write notice a client that went away (freeing its slot).
                                let keep_alive = web::Bytes::from_static(b": keep-alive\n\n");
                                return Some((
                                    Ok(keep_alive),
                                    (last, false, tokio::time::Instant::now()),
                                ));
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            let Ok(now) = sites.operation(&ctx, id).await else {
                                // Storage hiccup: keep the client waiting, try again.
                                continue;
                            };
                            let events = changes(last.as_ref(), &now);
                            if !events.is_empty() {
                                let done = now.status.is_terminal();
                                return Some((
                                    Ok(web::Bytes::from(events)),
                                    (Some(now), done, checked),
                                ));
                            }
                        }
                    }
                },
            ));
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chom_site_hosting::StepProgress;
    use time::OffsetDateTime;

    /// A step that tells how far it got is a `step` event carrying it; the same reading again
    /// is no event; the operation's own event only when its state moves.
    #[test]
    fn a_steps_progress_is_a_step_event() {
        let t = OffsetDateTime::now_utc();
        let mut op = Operation::new(
            chom_kernel::TenantId::new(),
            None,
            "backup",
            &["backup.create"],
        );
        op.start("backup.create", t);
        let before = op.clone();
        let progress = StepProgress {
            phase: "files".into(),
            files: 12,
            bytes: 3400,
            files_expected: Some(40),
        };
        assert!(op.progress("backup.create", progress, t));
        let events = changes(Some(&before), &op);
        assert_eq!(events.matches("event: step").count(), 1, "{events}");
        assert!(!events.contains("event: operation"), "{events}");
        assert!(
            events.contains(
                r#""progress":{"phase":"files","files":12,"bytes":3400,"files_expected":40}"#
            ),
            "{events}"
        );
        assert_eq!(changes(Some(&op), &op), "");
    }
}
