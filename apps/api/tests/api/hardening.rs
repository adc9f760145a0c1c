//! The audit's HTTP findings, each named after it: client addresses behind proxies (H1),
//! secrets never cached (L3), security headers (L4), and the API's loose ends (405 on a wrong
//! method, 400 for a body that is not JSON).

use crate::helpers::{Db, assert_problem, spawn_app, spawn_app_with};
use serde_json::json;

async fn forgot(app: &crate::helpers::TestApp, forwarded_for: Option<&str>) -> u16 {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/forgot-password"))
        .json(&json!({"email": "x@example.com"}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap().status().as_u16()
}

/// H1: behind two trusted proxies, each client has its own auth limit (the right-most hop
/// that is not a proxy), whatever it writes at the left of the chain.
#[tokio::test]
async fn h1_each_client_behind_trusted_proxies_has_its_own_limit() {
    let app = spawn_app_with(Db::Sqlite, |s| {
        s.security.auth_requests_per_minute = 3;
        // The test client connects from 127.0.0.1: the inner proxy; 10.0.0.1 is the edge.
        s.server.trusted_proxies = vec!["127.0.0.1/32".into(), "10.0.0.1".into()];
    })
    .await;
    // Client A, spoofing a different first hop each time: still one client.
    for i in 0..3 {
        let chain = format!("6.6.6.{i}, 198.51.100.7, 10.0.0.1");
        assert_eq!(forgot(&app, Some(&chain)).await, 202);
    }
    assert_eq!(
        forgot(&app, Some("1.2.3.4, 198.51.100.7, 10.0.0.1")).await,
        429
    );
    // Client B through the same proxies is not affected.
    assert_eq!(forgot(&app, Some("198.51.100.8, 10.0.0.1")).await, 202);
}

/// H1: without trusted proxies, forwarding headers are ignored (a client cannot pick its key).
#[tokio::test]
async fn h1_forwarding_headers_from_untrusted_peers_are_ignored() {
    let app = spawn_app_with(Db::Sqlite, |s| s.security.auth_requests_per_minute = 3).await;
    for i in 0..3 {
        assert_eq!(forgot(&app, Some(&format!("203.0.113.{i}"))).await, 202);
    }
    assert_eq!(forgot(&app, Some("203.0.113.99")).await, 429);
}

/// A wrong method on an existing path is 405 with `Allow`, as docs/API.md says.
async fn a_wrong_method_on_an_existing_path_is_405_with_allow(db: Db) {
    let app = spawn_app(db).await;
    let res = app
        .client
        .delete(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    assert_problem(res, 405, "METHOD_NOT_ALLOWED").await;
    let res = app
        .client
        .put(app.url("/api/v1/sites/0190a0c4-0000-7000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    for m in ["GET", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    assert_problem(res, 405, "METHOD_NOT_ALLOWED").await;
    // Unknown paths stay 404.
    assert_problem(app.get("/api/v1/sites/a/b/c").await, 404, "NOT_FOUND").await;
}

/// A body that is not JSON at all is 400 `MALFORMED_JSON`, whatever shape the route expects;
/// well-formed JSON of the wrong shape stays 422.
async fn a_body_that_is_not_json_is_400_and_a_wrong_shape_422(db: Db) {
    let app = spawn_app(db).await;
    for raw in ["[1,2", "tru", "{\"email\":", "[1,2]x"] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "MALFORMED_JSON").await;
    }
    for shaped in [json!([1, 2]), json!(true), json!({"email": 5})] {
        let res = app.post("/api/v1/auth/login", shaped).await;
        assert_problem(res, 422, "VALIDATION_FAILED").await;
    }
}

/// L3 and L4: every API answer is `no-store` (tokens, TOTP secrets and recovery codes among
/// them), and every answer carries the security headers.
async fn l3_l4_secrets_are_never_cached_and_every_answer_has_security_headers(db: Db) {
    let app = spawn_app(db).await;
    let token = crate::helpers::super_admin_token(&app).await;
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "root@example.com", "password": crate::helpers::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.post_as(&token, "/api/v1/auth/refresh", json!({})).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    for path in ["/api/v1/plans", "/health/live", "/api/docs/", "/nope"] {
        let res = app.get(path).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()[name].to_str().unwrap().to_owned()
}

/// Per-token API limits by plan: `RateLimit-*` on every authenticated answer, 429 with
/// `Retry-After` past the plan's limit; each token has its own budget; tokens without a plan
/// get `security.api_requests_per_minute`.
async fn api_requests_are_limited_per_token_by_plan(db: Db) {
    let app = spawn_app(db).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let (_, _, owner) = crate::sites::customer(&app, &admin, "rita", "starter").await;
    // No request of a planned tenant has read the catalogue yet: this limit is what it reads.
    app.exec("UPDATE plans SET api_requests_per_minute = 3 WHERE code = 'starter'")
        .await;
    // Choosing the plan was this token's first request of the minute.
    for remaining in ["1", "0"] {
        let res = app.get_as(&owner, "/api/v1/auth/me").await;
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(header(&res, "ratelimit-limit"), "3");
        assert_eq!(header(&res, "ratelimit-remaining"), remaining);
        let reset: u64 = header(&res, "ratelimit-reset").parse().unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
    }
    let res = app.get_as(&owner, "/api/v1/auth/me").await;
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_problem(res, 429, "RATE_LIMITED").await;
    // Another token of the same account has its own budget.
    let other = crate::identity::login(&app, "rita@example.com", crate::identity::PASSWORD).await;
    assert_eq!(
        app.get_as(&other, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200
    );
    // A token acting for no planned tenant gets the configured default.
    let res = app.get_as(&admin, "/api/v1/auth/me").await;
    assert_eq!(header(&res, "ratelimit-limit"), "100000");
}

/// Sensitive operations (database export, site delete): 10 per minute per tenant, whichever
/// token asks.
async fn sensitive_operations_are_limited_per_tenant(db: Db) {
    let app = spawn_app(db).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let (_, _, owner) = crate::sites::customer(&app, &admin, "sam", "starter").await;
    let site = "/api/v1/sites/0190a0c4-0000-7000-8000-000000000000";
    for i in 0..10 {
        let res = if i % 2 == 0 {
            app.post_as(&owner, &format!("{site}/database/export"), json!({}))
                .await
        } else {
            app.send(reqwest::Method::DELETE, site, Some(&owner), None)
                .await
        };
        assert_problem(res, 404, "NOT_FOUND").await;
    }
    let second = crate::identity::login(&app, "sam@example.com", crate::identity::PASSWORD).await;
    let res = app
        .send(reqwest::Method::DELETE, site, Some(&second), None)
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "RATE_LIMITED").await;
    // Other operations are not counted.
    let res = app
        .post_as(&owner, &format!("{site}/cache/clear"), json!({}))
        .await;
    assert_problem(res, 404, "NOT_FOUND").await;
}

crate::both_backends!(
    api_requests_are_limited_per_token_by_plan,
    sensitive_operations_are_limited_per_tenant,
    a_wrong_method_on_an_existing_path_is_405_with_allow,
    a_body_that_is_not_json_is_400_and_a_wrong_shape_422,
    l3_l4_secrets_are_never_cached_and_every_answer_has_security_headers,
    m8_forgot_password_timing_does_not_reveal_known_addresses,
);

/// Links in e-mails name the port the API really listens on when `server.port = 0` and
/// `mail.public_url` is unset.
#[tokio::test]
async fn links_in_e_mails_name_the_port_really_bound() {
    let app = spawn_app_with(Db::Sqlite, |s| s.mail.public_url = None).await;
    let p = crate::identity::register(&app, "portia").await;
    let mail = app.smtp.wait_for(&p.email, "Confirm your e-mail").await;
    assert!(
        mail.data
            .contains(&format!("{}/api/v1/auth/verify-email#token=", app.address)),
        "{}",
        mail.data
    );
    assert!(!mail.data.contains(":0/"), "{}", mail.data);
}

/// M5: on PostgreSQL without SMTP the API refuses to start unless `mail.log_only` says so.
#[tokio::test]
async fn m5_postgres_without_smtp_refuses_to_start_unless_log_only() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = chom_postgres::testing::TestDatabase::new().await.unwrap();
    let mut settings = chom_api::config::Settings::default();
    settings.database.url = Some(secrecy::SecretString::from(db.url.clone()));
    settings.security.encryption_key = Some(secrecy::SecretString::from(
        data_encoding::BASE64URL_NOPAD.encode(&[42u8; 32]),
    ));
    let dir = tempfile::tempdir().unwrap();
    settings.ssh.key_file = dir.path().join("ssh/id_ed25519");
    settings.ssh.state_dir = dir.path().join("ssh");
    let Err(err) = chom_api::wiring::Services::from_settings(&settings).await else {
        panic!("started on PostgreSQL without SMTP");
    };
    assert!(format!("{err:#}").contains("mail.smtp_url"), "{err:#}");
    settings.mail.log_only = true;
    assert!(
        chom_api::wiring::Services::from_settings(&settings)
            .await
            .is_ok()
    );
}

/// A TCP relay to PostgreSQL that can be frozen: its open connections are cut, and new ones are
/// accepted and never answered (a server that stopped or hangs).
struct FreezableRelay {
    port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl FreezableRelay {
    async fn start(upstream: &'static str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (f, l) = (frozen.clone(), links.clone());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                if f.load(Ordering::SeqCst) {
                    held.push(inbound);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                l.lock().unwrap().push(link);
            }
        });
        Self {
            port,
            frozen,
            links,
        }
    }

    fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

/// M6: with PostgreSQL gone, a request answers 503 `SERVICE_UNAVAILABLE` with `Retry-After`
/// within 1.5 s (a 1 s pool wait), not after 5 s; after three such failures the breaker
/// answers at once; when the database is back, so is the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m6_a_postgres_outage_answers_503_within_1_5_s() {
    let relay = FreezableRelay::start("127.0.0.1:5432").await;
    let port = relay.port;
    let app = spawn_app_with(Db::Postgres, |s| {
        let url = s.database.url.as_ref().map(|u| {
            secrecy::ExposeSecret::expose_secret(u)
                .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"))
        });
        assert!(
            url.as_deref()
                .is_some_and(|u| u.contains(&port.to_string())),
            "{url:?}"
        );
        s.database.url = url.map(secrecy::SecretString::from);
        s.database.acquire_timeout_ms = 1_000;
        s.security.session_cache_ms = 0;
        s.worker.embedded = chom_api::config::EmbeddedWorker::Off;
    })
    .await;
    let token = crate::helpers::super_admin_token(&app).await;
    assert_eq!(
        app.get_as(&token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        200
    );
    relay.freeze();
    for path in ["/api/v1/auth/me", "/api/v1/sites", "/api/v1/plans"] {
        let started = std::time::Instant::now();
        let res = app.get_as(&token, path).await;
        let took = started.elapsed();
        eprintln!("database out: {path} answered {} in {took:?}", res.status());
        assert!(res.headers().contains_key("retry-after"), "{path}");
        assert_problem(res, 503, "SERVICE_UNAVAILABLE").await;
        assert!(
            took < std::time::Duration::from_millis(1500),
            "{path}: {took:?}"
        );
    }
    // Three failures in a row opened the breaker: now the answer comes without waiting on the
    // pool at all.
    let started = std::time::Instant::now();
    let res = app.get_as(&token, "/api/v1/auth/me").await;
    let took = started.elapsed();
    eprintln!(
        "database out, breaker open: answered {} in {took:?}",
        res.status()
    );
    assert_problem(res, 503, "SERVICE_UNAVAILABLE").await;
    assert!(
        took < std::time::Duration::from_millis(300),
        "breaker open: {took:?}"
    );
    // The database comes back: so does the API, within a few seconds.
    relay.thaw();
    let mut back = false;
    for _ in 0..40 {
        if app
            .get_as(&token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16()
            == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(back, "the API did not recover after the database came back");
}

/// M8: forgot-password costs the same for a known and an unknown address (the work runs
/// after the answer). Medians over 100 requests each, less than 20 % apart. The series are
/// interleaved A B B A (drifts of the machine's load hit both alike), and each request starts
/// once the previous one's background work is done (so it cannot slow the next one down).
async fn m8_forgot_password_timing_does_not_reveal_known_addresses(db: Db) {
    let app = spawn_app(db).await;
    crate::helpers::super_admin_token(&app).await;
    let time = |email: &'static str| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let res = app
                .post("/api/v1/auth/forgot-password", json!({"email": email}))
                .await;
            let took = started.elapsed();
            assert_eq!(res.status().as_u16(), 202);
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            took
        }
    };
    let (known, unknown) = ("root@example.com", "nobody@example.com");
    time(known).await;
    time(unknown).await;
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        k.push(time(known).await);
        u.push(time(unknown).await);
        u.push(time(unknown).await);
        k.push(time(known).await);
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut k), median(&mut u));
    let gap = (k - u).abs() / k.min(u);
    eprintln!(
        "forgot-password medians: known {:.2} ms, unknown {:.2} ms ({:.0} % apart)",
        k * 1000.0,
        u * 1000.0,
        gap * 100.0
    );
    assert!(gap < 0.20, "{:.0} % apart", gap * 100.0);
}

/// L14: with `security.require_admin_two_factor`, a super admin's password alone does not open
/// the admin API: the session can only turn 2FA on, and then everything opens.
#[tokio::test]
async fn l14_super_admin_two_factor_is_enforceable() {
    let app = spawn_app_with(Db::Sqlite, |s| s.security.require_admin_two_factor = true).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let res = app.get_as(&admin, "/api/v1/admin/vps").await;
    assert_problem(res, 403, "TWO_FACTOR_SETUP_REQUIRED").await;
    // Set-up asks for the password (a stolen session cannot enrol its thief's device).
    let res = app
        .post_as(
            &admin,
            "/api/v1/auth/2fa/setup",
            json!({"password": "wrong password"}),
        )
        .await;
    assert_problem(res, 401, "INVALID_CREDENTIALS").await;
    let totp = crate::identity::totp_setup(&app, &admin, crate::helpers::ADMIN_PASSWORD).await;
    let code = totp.code_at_step(time::OffsetDateTime::now_utc().unix_timestamp() / 30);
    let res = app
        .post_as(&admin, "/api/v1/auth/2fa/confirm", json!({"code": code}))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        app.get_as(&admin, "/api/v1/admin/vps")
            .await
            .status()
            .as_u16(),
        200
    );
}

/// L5: a body trickling in a byte at a time is cut at `server.body_timeout_ms`: 408
/// `REQUEST_TIMEOUT`, and the connection closes (it would stay open for ever).
#[tokio::test]
async fn l5_a_slow_body_is_cut_with_408() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app_with(Db::Sqlite, |s| s.server.body_timeout_ms = 1000).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let reader = async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("the connection stayed open");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

/// L1: a refresh rotates the secret and never extends the lifetime the token was issued with.
#[tokio::test]
async fn l1_a_refresh_never_extends_a_token() {
    let app = spawn_app(Db::Sqlite).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let short: serde_json::Value = app
        .post_as(
            &admin,
            "/api/v1/auth/tokens",
            json!({"name": "short", "abilities": ["read"], "expires_in_days": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    let short_token = short["data"]["token"].as_str().unwrap();
    let rotated: serde_json::Value = app
        .post_as(short_token, "/api/v1/auth/refresh", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["data"]["expires_at"], short["data"]["expires_at"]);
    assert_ne!(rotated["data"]["token"], short["data"]["token"]);
    assert_eq!(rotated["data"]["abilities"], json!(["read"]));
    assert_eq!(
        app.get_as(short_token, "/api/v1/auth/me")
            .await
            .status()
            .as_u16(),
        401,
        "the rotated-out secret still works"
    );
}

/// L8: `X-Tenant-Id` naming another organization's tenant, or none, is 404 `TENANT_NOT_FOUND`
/// with the same body: no existence oracle, and 404 like every foreign id.
#[tokio::test]
async fn l8_a_foreign_or_unknown_tenant_header_is_404() {
    let app = spawn_app(Db::Sqlite).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let (_, a) = crate::identity::onboard(&app, &admin, "ann").await;
    let (b, _) = crate::identity::onboard(&app, &admin, "ben").await;
    let mut details = Vec::new();
    for tenant in [b.tenant_id.clone(), uuid::Uuid::now_v7().to_string()] {
        let res = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&a)
            .header("x-tenant-id", tenant)
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, 404, "TENANT_NOT_FOUND").await;
        details.push(body["detail"].clone());
    }
    assert_eq!(details[0], details[1]);
}

/// L18: the verification e-mail links to a page whose script POSTs the token from the URL
/// fragment (never sent to a server or a proxy log); a GET, as a mail scanner's prefetch or a
/// pasted `?token=`, consumes nothing.
#[tokio::test]
async fn l18_the_verification_link_opens_a_page_and_a_get_consumes_nothing() {
    let app = spawn_app(Db::Sqlite).await;
    let p = crate::identity::register(&app, "vera").await;
    let mail = app.smtp.wait_for(&p.email, "Confirm your e-mail").await;
    let token = mail.token().unwrap();
    let link = mail
        .data
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http"))
        .unwrap()
        .to_owned();
    assert!(
        link.ends_with(&format!("/api/v1/auth/verify-email#token={token}")),
        "{link}"
    );
    for path in [
        format!("/api/v1/auth/verify-email?token={token}"),
        "/api/v1/auth/verify-email".to_owned(),
    ] {
        let page = app.get(&path).await;
        assert_eq!(page.status().as_u16(), 200);
        assert!(header(&page, "content-type").starts_with("text/html"));
        let csp = header(&page, "content-security-policy");
        assert!(
            csp.contains("script-src 'sha256-") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        let html = page.text().await.unwrap();
        assert!(
            html.contains("location.hash") && html.contains("POST"),
            "{html}"
        );
    }
    let res = app
        .post("/api/v1/auth/verify-email", json!({ "token": token }))
        .await;
    assert_eq!(res.status().as_u16(), 200, "a GET consumed the token");
}

/// A rejected organization's owner is told `ACCOUNT_REJECTED` at login, even while the owner's
/// own user row still waits for a decision (it used to say `ACCOUNT_PENDING_APPROVAL`).
#[tokio::test]
async fn a_rejected_organizations_owner_is_told_so_at_login() {
    let app = spawn_app(Db::Sqlite).await;
    let admin = crate::helpers::super_admin_token(&app).await;
    let orla = crate::identity::register(&app, "orla").await;
    crate::identity::verify(&app, &orla).await;
    let res = app
        .post_as(
            &admin,
            &format!("/api/v1/admin/organizations/{}/reject", orla.org_id),
            json!({"reason": "no such company in the trade register"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    let res = app
        .post(
            "/api/v1/auth/login",
            json!({"email": orla.email, "password": crate::identity::PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "ACCOUNT_REJECTED").await;
}
