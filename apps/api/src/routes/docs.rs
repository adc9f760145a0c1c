//! The OpenAPI document and the docs page. Swagger UI's assets are compiled into the binary
//! (`utoipa-swagger-ui` with `vendored`): the page renders with no network at all.

use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::SwaggerUi;

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Path of the docs page.
pub const DOCS_PATH: &str = "/api/docs/";

/// Registers `/api/openapi.json`, `/api/docs/` (and its assets) and `/api/docs` → `/api/docs/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", DOCS_PATH))
                .finish()
        }),
    )
    .service(SwaggerUi::new("/api/docs/{_:.*}").url(OPENAPI_PATH, crate::openapi::document()));
}
