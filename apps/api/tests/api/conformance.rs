//! The conformance sweep: every operation of the OpenAPI document is sent the requests that
//! provoke its refusals (no token, a token lacking the ability, a member lacking the role, a
//! tenant's token on a super-admin route, malformed JSON, another content type, an empty
//! object, unknown and malformed ids), every path a method it does not declare, and unknown
//! paths. The app's observer checks each answer against the document (helpers.rs), like every
//! answer of every other test; this test makes sure each refusal is asked for at least once.
//! And the check itself: a status removed from one route makes that route's answers fail.

use crate::helpers::{Db, TestApp, contract_of, spawn_app, spawn_app_checked, super_admin_token};
use crate::identity::isolation::add_member;
use chom_test_support::conformance::{Kind, Violation};
use chom_test_support::onboarding::customer;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// One operation of the document.
struct Operation {
    method: Method,
    template: String,
    /// Requires a bearer token.
    secured: bool,
    has_body: bool,
    /// The document says the body is required.
    body_required: bool,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    fn has_params(&self) -> bool {
        self.template.contains('{')
    }

    /// The template with every path parameter replaced by `id`.
    fn path(&self, id: &str) -> String {
        self.template
            .split('/')
            .map(|s| if s.starts_with('{') { id } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn is_admin(&self) -> bool {
        self.template.starts_with("/api/v1/admin/")
    }

    /// Ends the token it is called with: the sweep's shared tokens are not sent to it.
    fn ends_the_token(&self) -> bool {
        ["/api/v1/auth/logout", "/api/v1/auth/refresh"].contains(&self.template.as_str())
    }

    /// What a malformed or non-JSON body gets: 400 and 415 where the body is required, the
    /// route's own answer where it may be left out. The approvals take an optional note and
    /// ignore whatever is not one, although the document says a body is required.
    fn body_refusal(&self, refusal: &'static [u16]) -> Option<&'static [u16]> {
        let lenient = [
            "/api/v1/admin/users/{id}/approve",
            "/api/v1/admin/organizations/{id}/approve",
        ];
        (self.body_required && !lenient.contains(&self.template.as_str())).then_some(refusal)
    }

    /// What a caller the route refuses gets: `refusal`, or, on a route with a body, the body's
    /// 415 (the extractors run together, and a missing content type is known before the
    /// token is looked up).
    fn caller_refusal(&self, refusal: &'static [u16], or_body: &'static [u16]) -> &'static [u16] {
        if self.has_body { or_body } else { refusal }
    }
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn operations(doc: &Value) -> Vec<Operation> {
    let default_security = doc.get("security");
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method.as_str().to_lowercase()) else {
                continue;
            };
            // Secured: some requirement, and none of them empty (`{}` makes a token optional).
            let secured = op
                .get("security")
                .or(default_security)
                .and_then(Value::as_array)
                .is_some_and(|reqs| {
                    !reqs.is_empty()
                        && reqs
                            .iter()
                            .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
                });
            out.push(Operation {
                method,
                template: template.clone(),
                secured,
                has_body: op.get("requestBody").is_some(),
                body_required: op.pointer("/requestBody/required") == Some(&Value::Bool(true)),
            });
        }
    }
    out
}

/// The tokens the sweep asks with.
struct Callers {
    admin: String,
    owner: String,
    /// The owner's token with the `read` ability only.
    read_only: String,
    /// A member of the owner's organization with the `viewer` role.
    viewer: String,
}

/// What one request was meant to provoke, and what it got.
struct Probe {
    operation: String,
    probe: &'static str,
    expected: Option<&'static [u16]>,
    status: u16,
}

struct Sweep<'a> {
    app: &'a TestApp,
    probes: Vec<Probe>,
}

impl Sweep<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn ask(
        &mut self,
        operation: String,
        probe: &'static str,
        expected: Option<&'static [u16]>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) {
        self.ask_with(operation, probe, expected, method, path, token, body, None)
            .await;
    }

    /// As [`Sweep::ask`], with one more header.
    #[allow(clippy::too_many_arguments)]
    async fn ask_with(
        &mut self,
        operation: String,
        probe: &'static str,
        expected: Option<&'static [u16]>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
        header: Option<(&str, &str)>,
    ) {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        if let Some((content_type, bytes)) = body {
            req = req
                .header("Content-Type", content_type)
                .body(bytes.to_owned());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        // Read it all: the answer is checked when the app has sent it.
        let _ = res.bytes().await;
        self.probes.push(Probe {
            operation,
            probe,
            expected,
            status,
        });
    }
}

const UNAUTHORIZED: &[u16] = &[401];
const UNAUTHORIZED_OR_BODY: &[u16] = &[401, 415];
const FORBIDDEN: &[u16] = &[403];
const FORBIDDEN_OR_BODY: &[u16] = &[403, 415];
const MALFORMED: &[u16] = &[400];
const UNSUPPORTED: &[u16] = &[415];
const NOT_FOUND: &[u16] = &[404];
const NOT_FOUND_OR_BODY: &[u16] = &[404, 422];
const INVALID: &[u16] = &[422];
const TOO_LARGE: &[u16] = &[413];
const NOT_ALLOWED: &[u16] = &[405];

async fn sweep(app: &TestApp, ops: &[Operation], callers: &Callers) -> Vec<Probe> {
    let mut s = Sweep {
        app,
        probes: Vec::new(),
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    // Over `server.max_body_bytes` (256 KiB).
    let oversized = format!("{{\"x\": \"{}\"}}", "a".repeat(300 * 1024));
    let long_key = "k".repeat(256);
    for op in ops {
        let name = op.name();
        let path = op.path(&unknown);
        let token = if op.is_admin() {
            &callers.admin
        } else {
            &callers.owner
        };
        let token = op.secured.then_some(token.as_str());
        if op.secured {
            s.ask(
                name.clone(),
                "no token",
                Some(UNAUTHORIZED),
                op.method.clone(),
                &path,
                None,
                None,
            )
            .await;
            s.ask(
                name.clone(),
                "an unknown token",
                Some(op.caller_refusal(UNAUTHORIZED, UNAUTHORIZED_OR_BODY)),
                op.method.clone(),
                &path,
                Some("0190d8e4-5b65-7136-bf6e-2b079378585f.nope"),
                None,
            )
            .await;
            if op.is_admin() {
                s.ask(
                    name.clone(),
                    "a tenant's token on a super-admin route",
                    Some(op.caller_refusal(FORBIDDEN, FORBIDDEN_OR_BODY)),
                    op.method.clone(),
                    &path,
                    Some(&callers.owner),
                    None,
                )
                .await;
            } else if !op.ends_the_token() {
                // Whatever these get (403 where the ability or the role falls short, the
                // route's own answer elsewhere), it must be declared.
                let body = op.has_body.then_some(("application/json", "{}"));
                s.ask(
                    name.clone(),
                    "a read-only token",
                    None,
                    op.method.clone(),
                    &path,
                    Some(&callers.read_only),
                    body,
                )
                .await;
                s.ask(
                    name.clone(),
                    "a viewer",
                    None,
                    op.method.clone(),
                    &path,
                    Some(&callers.viewer),
                    body,
                )
                .await;
            }
        }
        if op.secured && !op.is_admin() && !op.ends_the_token() {
            // The tenant a member acts for (`X-Tenant-Id`): another organization's or an
            // unknown one is 404, a malformed one 422; a body, when the route takes one, may
            // be refused first.
            let body = op.has_body.then_some(("application/json", "{}"));
            s.ask_with(
                name.clone(),
                "an unknown X-Tenant-Id",
                Some(op.caller_refusal(NOT_FOUND, NOT_FOUND_OR_BODY)),
                op.method.clone(),
                &path,
                token,
                body,
                Some(("X-Tenant-Id", &unknown)),
            )
            .await;
            s.ask_with(
                name.clone(),
                "a malformed X-Tenant-Id",
                Some(INVALID),
                op.method.clone(),
                &path,
                token,
                body,
                Some(("X-Tenant-Id", "nope")),
            )
            .await;
        }
        if op.secured && op.method == Method::POST && !op.ends_the_token() {
            s.ask_with(
                name.clone(),
                "a malformed Idempotency-Key",
                Some(MALFORMED),
                op.method.clone(),
                &path,
                token,
                op.has_body.then_some(("application/json", "{}")),
                Some(("Idempotency-Key", &long_key)),
            )
            .await;
        }
        if op.has_body {
            let probes = [
                (
                    "a body over the size limit",
                    op.body_refusal(TOO_LARGE),
                    "application/json",
                    oversized.as_str(),
                ),
                (
                    "malformed JSON",
                    op.body_refusal(MALFORMED),
                    "application/json",
                    "{\"a\": [1, 2",
                ),
                (
                    "another content type",
                    op.body_refusal(UNSUPPORTED),
                    "text/plain",
                    "{}",
                ),
                ("an empty object", None, "application/json", "{}"),
            ];
            for (probe, expected, content_type, body) in probes {
                s.ask(
                    name.clone(),
                    probe,
                    expected,
                    op.method.clone(),
                    &path,
                    token,
                    Some((content_type, body)),
                )
                .await;
            }
        }
        if op.has_params() {
            if !op.has_body {
                s.ask(
                    name.clone(),
                    "an unknown id",
                    Some(NOT_FOUND),
                    op.method.clone(),
                    &path,
                    token,
                    None,
                )
                .await;
            }
            let body = op.has_body.then_some(("application/json", "{}"));
            s.ask(
                name.clone(),
                "a malformed id",
                None,
                op.method.clone(),
                &op.path("not-an-id"),
                token,
                body,
            )
            .await;
        }
    }
    // Each path asked with a method it does not declare.
    let mut paths: Vec<&str> = ops.iter().map(|o| o.template.as_str()).collect();
    paths.dedup();
    for template in paths {
        let declared: Vec<&Method> = ops
            .iter()
            .filter(|o| o.template == template)
            .map(|o| &o.method)
            .collect();
        let Some(other) = METHODS.iter().find(|m| !declared.contains(m)) else {
            continue;
        };
        let path = ops
            .iter()
            .find(|o| o.template == template)
            .map(|o| o.path(&unknown))
            .unwrap_or_default();
        s.ask(
            format!("{other} {template}"),
            "an undeclared method",
            Some(NOT_ALLOWED),
            other.clone(),
            &path,
            Some(&callers.owner),
            None,
        )
        .await;
    }
    for path in ["/api/v1/nope", "/nope", "/api/v1/sites/x/y/z"] {
        s.ask(
            format!("GET {path}"),
            "an unknown path",
            Some(NOT_FOUND),
            Method::GET,
            path,
            Some(&callers.owner),
            None,
        )
        .await;
    }
    s.probes
}

/// Every operation's refusals are asked for, and answer as the probe meant; the observer
/// checks each answer against the document.
async fn every_refusal_of_every_operation_is_asked(db: Db) {
    let app = spawn_app(db).await;
    let admin = super_admin_token(&app).await;
    let (org, _, owner) = customer(&app, &admin, "sweeper", "starter").await;
    let res = app
        .post_as(
            &owner,
            "/api/v1/auth/tokens",
            json!({"name": "read only", "abilities": ["read"]}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let read_only = chom_test_support::api::body(res).await["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, viewer) = add_member(&app, &org, "sweepviewer", chom_kernel::Role::Viewer).await;
    let callers = Callers {
        admin,
        owner,
        read_only,
        viewer,
    };
    let doc = app.conformance.recorder().contract().document().clone();
    let ops = operations(&doc);
    assert!(ops.len() > 50, "the document has {} operations", ops.len());
    let probes = sweep(&app, &ops, &callers).await;

    let table: Vec<String> = probes
        .iter()
        .map(|p| format!("{:<60} {:<42} {}", p.operation, p.probe, p.status))
        .collect();
    eprintln!("{} probes:\n{}", probes.len(), table.join("\n"));
    let unexpected: Vec<String> = probes
        .iter()
        .filter(|p| p.expected.is_some_and(|e| !e.contains(&p.status)))
        .map(|p| {
            format!(
                "{} ({}): {} (expected {:?})",
                p.operation,
                p.probe,
                p.status,
                p.expected.unwrap_or_default()
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "probes that did not provoke their refusal:\n{}",
        unexpected.join("\n")
    );
    // Nothing but the probes' refusals: a 5xx is a bug, not a refusal.
    let failures: Vec<&Probe> = probes.iter().filter(|p| p.status >= 500).collect();
    assert!(
        failures.is_empty(),
        "{:?}",
        failures
            .iter()
            .map(|p| format!("{} ({}): {}", p.operation, p.probe, p.status))
            .collect::<Vec<_>>()
    );
}

/// The check fails when a declared status is removed from one route: the app's own document
/// without `404` on `GET /api/v1/sites/{id}`, and that route's 404 is the one violation.
async fn removing_a_declared_status_fails_the_check(db: Db) {
    let mut doc = serde_json::to_value(chom_api::openapi::document()).unwrap();
    let removed = doc["paths"]["/api/v1/sites/{id}"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("404");
    assert!(removed.is_some(), "GET /api/v1/sites/{{id}} declares 404");
    let app = spawn_app_checked(db, |_| {}, Arc::new(contract_of(doc))).await;
    let admin = super_admin_token(&app).await;
    let (_, _, token) = customer(&app, &admin, "remover", "starter").await;
    // Whatever else the set-up met (the other helpers' declarations may still be missing), it
    // is not this test's subject.
    let _ = app.conformance.recorder().take();

    let unknown = uuid::Uuid::new_v4();
    let res = app
        .get_as(&token, &format!("/api/v1/sites/{unknown}"))
        .await;
    assert_eq!(res.status().as_u16(), 404);
    let _ = res.bytes().await;
    let found: Vec<Violation> = app.conformance.recorder().take();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, Kind::UndeclaredStatus);
    assert_eq!(found[0].operation, "GET /api/v1/sites/{id}");
    assert_eq!(found[0].status, 404);
    assert_eq!(
        found[0].content_type.as_deref(),
        Some("application/problem+json")
    );
}

crate::both_backends!(
    every_refusal_of_every_operation_is_asked,
    removing_a_declared_status_fails_the_check
);
