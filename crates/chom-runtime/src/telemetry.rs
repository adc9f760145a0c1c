//! Logs (tracing-subscriber, JSON by default) and the Prometheus recorder.

use crate::config::{LogFormat, LogSettings};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Every line carries the fields of its spans, so the
/// `request_id` of the request span appears on every log line of a request.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Already installed (tests build several apps per process): keep the first.
    drop(result);
}

const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
///
/// # Errors
/// Another metrics recorder was installed first.
pub fn prometheus() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = PROMETHEUS.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    if PROMETHEUS.set(handle.clone()).is_ok() {
        metrics::set_global_recorder(recorder)
            .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
        describe();
        Ok(handle)
    } else {
        PROMETHEUS
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("metrics recorder vanished"))
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(
        "chom_jobs_total",
        "Job outcomes by kind (succeeded, retried, dead, released)"
    );
    describe_histogram!(
        "chom_job_duration_seconds",
        Unit::Seconds,
        "Job handler run time by kind"
    );
    describe_histogram!(
        "chom_job_wait_seconds",
        Unit::Seconds,
        "Time from a job becoming runnable to its start"
    );
    describe_gauge!(
        "chom_jobs",
        "Jobs in the queue by state, sampled at scrape time"
    );
    describe_counter!(
        "chom_jobs_rescued_total",
        "Jobs requeued after their worker's lease expired"
    );
    describe_counter!(
        "chom_cache_errors_total",
        "Redis failures answered by the in-memory fallback"
    );
    describe_counter!(
        "chom_http_panics_total",
        "Handler panics turned into 500 responses"
    );
    describe_counter!(
        "chom_backup_alerts_total",
        "Backup alerts raised by reason (failed, verification_failed, overdue); each e-mails the organization's owners and admins"
    );
    describe_gauge!(
        "chom_backup_overdue_sites",
        "Sites whose schedule's latest occurrence has no completed backup past its deadline, at the last watch"
    );
}

/// How long one scrape may take, from accepting it to the last byte written.
const SCRAPE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Scrapes served at once; more wait in the listen backlog (a scraper needs one).
const CONCURRENT_SCRAPES: usize = 8;

/// The longest request head read (request line and headers).
const MAX_HEAD: usize = 8192;

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown`: the worker's
/// own scrape target, so its job counters and durations are visible without the API. Anything
/// else is 404, a head over 8 KiB is 431. At most 8 connections are served at once and each
/// gets 10 s in all (reading, rendering, writing), so a client that trickles its request or
/// never reads the answer holds neither descriptors nor memory for long.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SCRAPES));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return,
            permit = std::sync::Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(SCRAPE_DEADLINE, answer_scrape(stream, &handle)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics scrape failed"),
                Err(_) => tracing::debug!("metrics scrape cut at its deadline"),
            }
        });
    }
}

/// Reads the request head; `None` when it is longer than [`MAX_HEAD`].
async fn read_head(stream: &mut tokio::net::TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(Some(head));
        }
        // Only the bytes around the new ones can complete the blank line.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

async fn answer_scrape(
    mut stream: tokio::net::TcpStream,
    handle: &PrometheusHandle,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let head = read_head(&mut stream).await?;
    let too_large = head.is_none();
    let (status, content_type, body) = match head {
        None => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            "request head too large\n".to_owned(),
        ),
        Some(head) => {
            let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut words = line.split_whitespace();
            let path = words.nth(1).map(|p| p.split('?').next().unwrap_or(p));
            match (line.split_whitespace().next(), path) {
                (Some("GET"), Some("/metrics")) => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    handle.render(),
                ),
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found\n".to_owned(),
                ),
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    if too_large {
        // Read what the client is still sending (within the deadline): closing with unread
        // bytes would reset the connection before the client read the 431.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn the_listener_serves_the_recorders_metrics_and_nothing_else() {
        let handle = prometheus().expect("recorder");
        metrics::counter!("chom_jobs_total", "kind" => "test::scrape", "outcome" => "done")
            .increment(1);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(serve_metrics(listener, handle, shutdown.clone()));
        let scrape = get(addr, "/metrics").await;
        assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
        assert!(scrape.contains("text/plain; version=0.0.4"), "{scrape}");
        assert!(
            scrape.contains(r#"chom_jobs_total{kind="test::scrape",outcome="done"} 1"#),
            "{scrape}"
        );
        let other = get(addr, "/").await;
        assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");
        let query = get(addr, "/metrics?name=x").await;
        assert!(query.starts_with("HTTP/1.1 200 OK\r\n"), "{query}");
        let huge = get(addr, &format!("/metrics?{}", "a".repeat(10_000))).await;
        assert!(
            huge.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{huge}"
        );
        shutdown.cancel();
        server.await.expect("server stops on shutdown");
    }
}
