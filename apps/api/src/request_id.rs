//! Correlation ids. A valid incoming `X-Request-Id` is kept, anything else is replaced by a new
//! UUID; the id is echoed on the response, put on the request span (so on every log line) and
//! made available to error rendering through a task-local.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;

/// The header carrying the id.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if any.
#[must_use]
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The request id, stored in request extensions for handlers (`req.extensions().get()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Accepts 1 to 128 characters of `[A-Za-z0-9._:-]`: enough for UUIDs and tracing ids, nothing
/// that could forge log lines or headers.
#[must_use]
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The id for `req`: its valid header, or a new one. Stored in the request's extensions.
pub fn assign(req: &ServiceRequest) -> String {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    id
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn only_plain_ids_are_accepted() {
        assert!(is_valid("0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"));
        assert!(is_valid("trace:abc.123_x"));
        for bad in [
            "",
            "has space",
            "line\nbreak",
            "quote\"",
            "é",
            &"a".repeat(129),
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
