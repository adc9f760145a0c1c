//! The refusals every operation can answer, added from its traits (a bearer token, a body, an id
//! in the path…) by reference to the shared components of [`super::problems`]; and the headers
//! of its answers.
//!
//! What each trait implies, and why (the code that answers it):
//! - every operation: 500 `INTERNAL_ERROR` (`middleware::observe` turns a panic into it);
//! - under `/api/v1`: 503 `SERVICE_UNAVAILABLE` (`breaker::guard` wraps the whole scope);
//! - a bearer token (`extract::Auth`): 401, 403 (`Auth::require`, `authorize`, the account's
//!   state), 404 `TENANT_NOT_FOUND` and 422 (`X-Tenant-Id`), 429 (the token's rate limit);
//! - a body (`extract::Body`): 400, 408 (`middleware::body_deadline`), 413, 415, 422;
//! - a query string (`web::Query`): 400 `BAD_REQUEST` (unknown parameter, wrong type);
//! - an id in the path: 404 (every handler maps an unknown, foreign or unparsable id to it);
//! - a POST under `/api/v1`: 400 `INVALID_IDEMPOTENCY_KEY` (`idempotency::honour` checks the
//!   header before the token); with a token also 408, 409, 413 and 422 (it reads the body).
//!
//! A status the route declares itself keeps its description (its own codes), extended with the
//! sentences of the shared kinds it does not already name, their headers and their examples.

use super::problems::{
    self, ADMIN_FORBIDDEN, BAD_QUERY, FORBIDDEN, IDEMPOTENCY_KEY_IN_USE, IDEMPOTENCY_KEY_REUSED,
    INTERNAL_ERROR, INVALID_BODY, INVALID_IDEMPOTENCY_KEY, INVALID_TENANT_HEADER, Kind,
    MALFORMED_BODY, NOT_FOUND, PAYLOAD_TOO_LARGE, PROBLEM_JSON, RATE_LIMIT_HEADERS, RATE_LIMITED,
    REQUEST_TIMEOUT, SERVICE_UNAVAILABLE, TENANT_NOT_FOUND, UNAUTHENTICATED,
    UNSUPPORTED_MEDIA_TYPE,
};
use std::collections::BTreeMap;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, Ref, RefOr, Response};

/// See the module documentation.
#[derive(Debug)]
pub struct Refusals;

/// What an operation is, as far as its refusals go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traits {
    /// Under `/api/v1`.
    pub v1: bool,
    /// Under `/api/v1/admin` (super admins only).
    pub admin: bool,
    /// Needs a bearer token.
    pub secured: bool,
    /// Reads a JSON body.
    pub body: bool,
    /// Reads a query string.
    pub query: bool,
    /// Has an id in its path.
    pub path_params: bool,
    /// A POST.
    pub post: bool,
}

impl Traits {
    /// The traits of `op` at `path`.
    #[must_use]
    pub fn of(path: &str, post: bool, op: &Operation) -> Self {
        let params = op.parameters.as_deref().unwrap_or_default();
        let located = |place: ParameterIn, refs: &[&str]| {
            params.iter().any(|p| match p {
                RefOr::T(p) => p.parameter_in == place,
                RefOr::Ref(r) => refs.iter().any(|name| r.ref_location.ends_with(name)),
            })
        };
        Self {
            v1: path.starts_with("/api/v1/"),
            admin: path.starts_with("/api/v1/admin/"),
            secured: op
                .security
                .as_ref()
                .is_some_and(|s| s.iter().any(|r| *r != Default::default())),
            body: op.request_body.is_some(),
            query: located(ParameterIn::Query, &["/Cursor", "/Limit"]),
            path_params: located(ParameterIn::Path, &[]),
            post,
        }
    }

    /// The refusals these traits imply.
    #[must_use]
    pub fn kinds(self) -> Vec<Kind> {
        // In the order their sentences are best read when several share a status.
        let mut kinds = vec![INTERNAL_ERROR];
        if self.v1 {
            kinds.push(SERVICE_UNAVAILABLE);
        }
        if self.body {
            kinds.extend([
                MALFORMED_BODY,
                REQUEST_TIMEOUT,
                PAYLOAD_TOO_LARGE,
                UNSUPPORTED_MEDIA_TYPE,
                INVALID_BODY,
            ]);
        }
        if self.query {
            kinds.push(BAD_QUERY);
        }
        if self.path_params {
            kinds.push(NOT_FOUND);
        }
        if self.secured {
            kinds.extend([
                UNAUTHENTICATED,
                if self.admin {
                    ADMIN_FORBIDDEN
                } else {
                    FORBIDDEN
                },
                TENANT_NOT_FOUND,
                INVALID_TENANT_HEADER,
                RATE_LIMITED,
            ]);
        }
        if self.post && self.v1 {
            kinds.push(INVALID_IDEMPOTENCY_KEY);
            if self.secured {
                kinds.extend([
                    REQUEST_TIMEOUT,
                    IDEMPOTENCY_KEY_IN_USE,
                    PAYLOAD_TOO_LARGE,
                    IDEMPOTENCY_KEY_REUSED,
                ]);
            }
        }
        let mut unique: Vec<Kind> = Vec::new();
        for k in kinds {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        unique
    }
}

impl Modify for Refusals {
    fn modify(&self, openapi: &mut OpenApi) {
        problems::register(openapi.components.get_or_insert_with(Default::default));
        for (path, item) in &mut openapi.paths.paths {
            for (post, op) in [
                (false, item.get.as_mut()),
                (false, item.put.as_mut()),
                (true, item.post.as_mut()),
                (false, item.delete.as_mut()),
                (false, item.patch.as_mut()),
            ]
            .into_iter()
            .filter_map(|(post, op)| op.map(|op| (post, op)))
            {
                let traits = Traits::of(path, post, op);
                add_refusals(op, &traits.kinds());
                add_headers(op, traits);
            }
        }
    }
}

/// Adds `kinds` to `op`: by reference when the route declares nothing for the status and one
/// kind applies; else merged into one response.
fn add_refusals(op: &mut Operation, kinds: &[Kind]) {
    let mut by_status: BTreeMap<u16, Vec<Kind>> = BTreeMap::new();
    for k in kinds {
        by_status.entry(k.status).or_default().push(*k);
    }
    for (status, kinds) in by_status {
        let responses = &mut op.responses.responses;
        match responses.get_mut(&status.to_string()) {
            None => {
                let response = match kinds.as_slice() {
                    [one] => RefOr::Ref(Ref::from_response_name(one.name)),
                    _ => RefOr::T(merged(None, &kinds)),
                };
                responses.insert(status.to_string(), response);
            }
            Some(RefOr::T(own)) => *own = merged(Some(&*own), &kinds),
            Some(RefOr::Ref(_)) => {}
        }
    }
}

/// The route's own response for a status (if any) with the shared kinds of that status: its
/// description first, then what the kinds add; their headers; an example per code named.
fn merged(own: Option<&Response>, kinds: &[Kind]) -> Response {
    let mut response = own.cloned().unwrap_or_default();
    let mut sentences: Vec<&str> = Vec::new();
    let mut named = Vec::new();
    // A route's words that a kind says in full (`FORBIDDEN`: super admins only) give way to
    // the kind's.
    let said_by_a_kind = kinds
        .iter()
        .any(|k| !response.description.is_empty() && k.description.contains(&response.description));
    if !response.description.is_empty() && !said_by_a_kind {
        sentences.push(&response.description);
        named = problems::codes_in(&response.description);
    }
    for k in kinds {
        if k.codes.iter().all(|c| named.contains(c)) {
            if !k.also.is_empty() && !response.description.contains(k.also) {
                sentences.push(k.also);
            }
        } else if !response.description.contains(k.description) {
            sentences.push(k.description);
            named.extend(k.codes.iter().copied());
        }
    }
    let description = sentences.join("; ");
    for k in kinds {
        for h in k.headers {
            response
                .headers
                .insert((*h).to_owned(), problems::header_ref(h));
        }
        if k.authenticated {
            for h in RATE_LIMIT_HEADERS {
                response
                    .headers
                    .insert(h.to_owned(), problems::header_ref(h));
            }
        }
    }
    response.description = description;
    response
}

/// The headers every answer of `op` carries, and the examples of its refusals' codes.
fn add_headers(op: &mut Operation, traits: Traits) {
    let accepted = Ref::from_schema_name("AcceptedResponse").ref_location;
    for (status, response) in &mut op.responses.responses {
        let RefOr::T(response) = response else {
            continue;
        };
        let status = status.as_str();
        let mut names = vec!["X-Request-Id"];
        let success = status.starts_with('2');
        if traits.secured && status != "401" {
            // `middleware::observe` copies the token's rate-limit decision into every answer
            // made after authenticating.
            names.extend(RATE_LIMIT_HEADERS);
        }
        if success && traits.secured && traits.post && traits.v1 {
            names.push("Idempotent-Replayed");
        }
        // `routes::sites::views::accepted` is the only maker of `AcceptedResponse`, and always
        // names the operation in `Location`.
        let schema_is = |wanted: &str| {
            response.content.values().any(|c| match c {
                RefOr::T(c) => matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == wanted),
                RefOr::Ref(_) => false,
            })
        };
        if status == "202" && schema_is(&accepted) {
            names.push("Location");
        }
        let problem = !success && status.len() == 3;
        if problem {
            match status {
                // `ApiError::error_response` adds it to every 503.
                "503" => names.push("Retry-After"),
                // Every 429 is `ratelimit::refusal` (with all of these) or `TOO_MANY_STREAMS`.
                "429" => names.extend(RATE_LIMITED.headers),
                _ => {}
            }
            let code_status = status.parse().unwrap_or_default();
            let codes: Vec<String> = problems::codes_in(&response.description)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let fresh = problems::problem_content(code_status, codes.iter().map(String::as_str));
            match response.content.get_mut(PROBLEM_JSON) {
                Some(RefOr::T(content)) => content.examples.extend(fresh.examples),
                Some(RefOr::Ref(_)) => {}
                None => {
                    response
                        .content
                        .insert(PROBLEM_JSON.to_owned(), RefOr::T(fresh));
                }
            }
        }
        for name in names {
            response
                .headers
                .entry(name.to_owned())
                .or_insert_with(|| problems::header_ref(name));
        }
    }
}
