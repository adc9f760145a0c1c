//! `/metrics` speaks the Prometheus text format (checked by `promtool`), with request counters
//! and latency histograms by route template, and job counters.

use crate::helpers::{Db, spawn_app};
use chom_kernel::jobs::{JobState, NewJob};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_prometheus_text_with_route_templates_and_job_counters() {
    let app = spawn_app(Db::Sqlite).await;
    for _ in 0..3 {
        app.get("/api/v1/plans").await;
    }
    app.get("/api/v1/nope/123").await;
    // A job for the embedded worker: it has no handler, so it goes dead at once.
    let id = app
        .app_services
        .queue
        .enqueue(NewJob::new("test::unhandled", serde_json::json!({})))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..100 {
        if app.app_services.queue.get(id).await.unwrap().unwrap().state == JobState::Dead {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let res = app.get("/metrics").await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/v1/plans",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/plans",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"chom_jobs_total{kind="test::unhandled",outcome="dead"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"chom_jobs{state="dead"} 1"#), "{text}");

    let mut promtool = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; cargo xtask services)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .await
        .unwrap();
    let out = promtool.wait_with_output().await.unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 3 for lint warnings only (e.g. counter naming); 1 for parse errors.
    assert!(
        out.status.success() || (out.status.code() == Some(3) && !report.contains("error")),
        "promtool rejected the exposition: {report}"
    );
}
