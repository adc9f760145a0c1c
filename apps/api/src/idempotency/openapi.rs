//! The `Idempotency-Key` header in the OpenAPI document, on every authenticated POST.

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
