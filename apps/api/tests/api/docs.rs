//! The OpenAPI document is valid OpenAPI 3.1 (checked by a real validator) and the docs page
//! works with no network: every asset it loads is served by the binary itself.

use crate::helpers::{Db, spawn_app};
use std::process::Command;

#[tokio::test]
async fn the_openapi_document_validates_as_openapi_3_1() {
    let app = spawn_app(Db::Sqlite).await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status().as_u16(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in ["/health/live", "/health/ready", "/metrics", "/api/v1/plans"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&doc).unwrap()).unwrap();
    // openapi-spec-validator (PyPI), installed by `cargo xtask services` and CI.
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "validator failed (install it with `pip install openapi-spec-validator`):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    // The validator is real: a broken document fails it.
    let mut broken = doc.clone();
    broken["paths"]["/health/live"]["get"]["responses"] = serde_json::json!("nope");
    std::fs::write(file.path(), serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken document passed validation");
}

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app(Db::Sqlite).await;
    let served = app.get("/api/openapi.json").await.text().await.unwrap();
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json exists (cargo xtask openapi)");
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        served, committed,
        "docs/openapi.json is stale: run `cargo xtask openapi`"
    );
}

fn referenced_assets(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                refs.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    refs
}

#[tokio::test]
async fn the_docs_page_and_all_its_assets_are_served_locally() {
    let app = spawn_app(Db::Sqlite).await;
    let redirect = app.get("/api/docs").await;
    assert_eq!(redirect.status().as_u16(), 308);
    assert_eq!(redirect.headers()["location"], "/api/docs/");

    let html = app.get("/api/docs/").await.text().await.unwrap();
    let assets = referenced_assets(&html);
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in &assets {
        assert!(!asset.contains("//"), "asset from another host: {asset}");
        let path = format!("/api/docs/{}", asset.trim_start_matches("./"));
        let res = app.get(&path).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        if path.ends_with("swagger-initializer.js") {
            assert!(body.contains("/api/openapi.json"), "{body}");
            assert!(
                !body.contains("https://"),
                "the initializer loads something remote: {body}"
            );
        }
    }
}

/// Renders the page in headless Chromium on a machine with no internet and checks the API title
/// was drawn from the document: the strongest proof that nothing is fetched from a CDN.
/// Skipped where Chromium is not installed, unless CHOM_REQUIRE_CHROMIUM=1 (CI sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_in_a_browser_without_network() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var("CHOM_REQUIRE_CHROMIUM").is_err(),
            "CHOM_REQUIRE_CHROMIUM is set but chromium is not installed"
        );
        eprintln!("skipped: chromium not installed");
        return;
    };
    let app = spawn_app(Db::Sqlite).await;
    let profile = tempfile::tempdir().unwrap();
    let url = app.url("/api/docs/");
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // No proxy can be reached: any request for a non-local host fails at once.
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .output()
        .await
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("CHOM API"),
        "the page did not render the API:\n{dom}"
    );
    assert!(
        dom.contains("/api/v1/plans"),
        "operations missing from the rendered page"
    );
}
