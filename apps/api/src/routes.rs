//! HTTP routes, one module per area.
//!
//! Each area has one `configure` that registers its handlers with `utoipa_actix_web`'s
//! [`ServiceConfig`]: a `service` call there both serves the handler and records its
//! `#[utoipa::path]` (a handler without one does not compile). [`documented`] builds the
//! OpenAPI paths from the very functions that [`mount`] serves, so a route is written once and
//! is served if and only if it is documented.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod docs;
pub mod fleet;
pub mod health;
pub mod metrics;
pub mod organization;
pub mod paging;
pub mod plans;
pub mod policy;
pub mod sites;
pub mod team;
pub mod views;

use actix_web::web;
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;

/// The routes outside `/api/v1`: health and metrics.
pub fn probes(cfg: &mut ServiceConfig<'_>) {
    cfg.configure(health::configure)
        .configure(metrics::configure);
}

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig<'_>) {
    cfg.configure(plans::configure)
        .configure(auth::configure)
        .configure(organization::configure)
        .configure(admin::configure)
        .configure(fleet::configure)
        .configure(sites::configure)
        .configure(backups::configure)
        .configure(audit::configure)
        .configure(team::configure);
}

/// `routes` as actix-web mounts them (`App::configure`, `Scope::configure`). What they record
/// for the document is dropped here: [`documented`] collects it from the same functions.
pub fn mount(routes: fn(&mut ServiceConfig<'_>)) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes(&mut ServiceConfig::new(cfg))
}

/// The OpenAPI paths, and the schemas they use, of every route [`probes`] and [`api_v1`]
/// serve. The `#[utoipa::path]` annotations carry the full paths (`/api/v1/…`), so the routes
/// are registered here without their scope; the app built for this is never run.
#[must_use]
pub fn documented() -> utoipa::openapi::OpenApi {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .configure(probes)
        .configure(api_v1)
        .split_for_parts();
    doc
}

#[cfg(test)]
mod tests {
    use super::{api_v1, mount, probes};
    use actix_web::http::{Method, StatusCode};
    use actix_web::{App, HttpResponse, test, web};

    /// Answered by the app when no route matched: no handler answers it.
    const UNROUTED: u16 = 599;

    /// Every operation of the document reaches a handler at the documented method and path,
    /// as the server mounts the routes: catches an annotation whose `path` or method differs
    /// from the actix-web route (the route would be served where the document does not say).
    /// Without services, the handlers' extractors refuse (401, 500…); that still proves the
    /// route matched.
    #[actix_web::test]
    async fn every_documented_operation_is_served_where_documented() {
        let app = test::init_service(
            App::new()
                .configure(mount(probes))
                .service(web::scope("/api/v1").configure(mount(api_v1)))
                .default_service(web::to(|| async {
                    HttpResponse::new(StatusCode::from_u16(UNROUTED).unwrap_or_default())
                })),
        )
        .await;
        let doc = crate::openapi::document();
        let mut probed = 0;
        for (template, item) in &doc.paths.paths {
            let path = template
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let operations = [
                (Method::GET, item.get.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::DELETE, item.delete.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::HEAD, item.head.is_some()),
                (Method::OPTIONS, item.options.is_some()),
                (Method::TRACE, item.trace.is_some()),
            ];
            for (method, _) in operations.into_iter().filter(|(_, present)| *present) {
                let req = test::TestRequest::default()
                    .method(method.clone())
                    .uri(&path)
                    .to_request();
                let res = test::call_service(&app, req).await;
                assert_ne!(
                    res.status().as_u16(),
                    UNROUTED,
                    "{method} {template} is documented but no route serves it"
                );
                probed += 1;
            }
        }
        assert!(probed > 0, "the document lists no operation");
    }

    /// The document says which operations need a bearer token, and they are exactly those
    /// that answer 401 without one (the extractors refuse a missing token before anything
    /// else): an operation served without its `security`, or so without its 401, fails here.
    #[actix_web::test]
    async fn the_operations_that_answer_401_without_a_token_are_the_secured_ones() {
        let app = test::init_service(
            App::new()
                .configure(mount(probes))
                .service(web::scope("/api/v1").configure(mount(api_v1))),
        )
        .await;
        let doc = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let mut wrong = Vec::new();
        for (template, item) in doc["paths"].as_object().into_iter().flatten() {
            let path = template
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for (method, op) in item.as_object().into_iter().flatten() {
                let m = match method.as_str() {
                    "get" => Method::GET,
                    "put" => Method::PUT,
                    "post" => Method::POST,
                    "delete" => Method::DELETE,
                    "patch" => Method::PATCH,
                    _ => continue,
                };
                // An empty requirement among the alternatives makes the token optional.
                let secured = op["security"].as_array().is_some_and(|s| {
                    !s.is_empty()
                        && s.iter()
                            .all(|r| r.as_object().is_some_and(|r| !r.is_empty()))
                });
                let declares_401 = op["responses"].get("401").is_some();
                let req = test::TestRequest::default()
                    .method(m)
                    .uri(&path)
                    .to_request();
                let answered_401 =
                    test::call_service(&app, req).await.status() == StatusCode::UNAUTHORIZED;
                if answered_401 != secured || (answered_401 && !declares_401) {
                    wrong.push(format!(
                        "{method} {template}: answers 401 without a token: {answered_401}; secured: {secured}; declares 401: {declares_401}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
