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
}
