//! What the two servers tell their operators: log lines (human text or one JSON object per
//! line, through `tracing`) and Prometheus metrics on a separate loopback port.
//!
//! The metrics endpoint serves the text exposition format on `GET /metrics` (any other path
//! is 404) and nothing else: it is plain HTTP, so it is refused on a non-loopback address.
//! Which metrics exist is each service's business (`authority/src/metrics.rs`,
//! `executor/src/metrics.rs`); this module only installs the recorder and serves it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, with the event's fields and its spans' fields
    /// (`request_id`, `correlation_id` ...), for log pipelines.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(TelemetryError::LogFormat(other.to_string())),
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("unknown log format `{0}` (expected `text` or `json`)")]
    LogFormat(String),
    #[error("{0}")]
    Address(String),
    #[error(
        "metrics_listen `{0}` is not a loopback address: the metrics endpoint is plain HTTP \
         without authentication, so it is served on loopback only (put a proxy in front to \
         expose it further)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
}

/// Parses a `metrics_listen` setting: a socket address on loopback.
pub fn metrics_address(raw: &str) -> Result<SocketAddr, TelemetryError> {
    let addr: SocketAddr = raw
        .parse()
        .map_err(|e| TelemetryError::Address(format!("metrics_listen `{raw}`: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(TelemetryError::NotLoopback(addr));
    }
    Ok(addr)
}

/// Installs the process's log subscriber (level from `RUST_LOG`, `info` by default).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Histogram buckets in seconds for latencies from tens of microseconds to seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// Installs the global metrics recorder and serves it on `addr` (loopback only; port 0 picks
/// a free one). Returns the bound address; the server runs on the current Tokio runtime.
pub async fn serve_metrics(addr: SocketAddr) -> Result<SocketAddr, TelemetryError> {
    if !addr.ip().is_loopback() {
        return Err(TelemetryError::NotLoopback(addr));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?
        .install_recorder()
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?;
    tokio::spawn(accept_scrapes(listener, handle));
    tracing::info!(metrics_addr = %bound, "metrics listening on http://{bound}/metrics");
    Ok(bound)
}

/// Answers scrapes, one task per connection, until the process exits.
async fn accept_scrapes(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(scrape(&request, &handle)) }
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metrics endpoint: connection ended with an error");
            }
        });
    }
}

/// `GET /metrics` renders the registry; anything else is refused.
fn scrape<B>(request: &Request<B>, handle: &PrometheusHandle) -> Response<Full<Bytes>> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&hyper::Method::GET, "/metrics") => (StatusCode::OK, handle.render()),
        (&hyper::Method::GET, _) => (StatusCode::NOT_FOUND, "not found: try /metrics\n".into()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here\n".into(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addresses_must_be_loopback() {
        assert_eq!(
            metrics_address("127.0.0.1:9464").unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert!(metrics_address("[::1]:0").is_ok());
        for refused in ["10.0.0.5:9464", "0.0.0.0:9464", "[::]:9464"] {
            let err = metrics_address(refused).unwrap_err();
            assert!(
                err.to_string().contains("loopback only"),
                "{refused}: {err}"
            );
        }
        let err = metrics_address("localhost:9464").unwrap_err();
        assert!(
            err.to_string().contains("metrics_listen `localhost:9464`"),
            "{err}"
        );
    }

    #[test]
    fn log_formats_parse_and_unknown_ones_are_refused() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        let err = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(err.to_string().contains("`yaml`"), "{err}");
    }

    #[tokio::test]
    async fn a_non_loopback_metrics_address_is_refused() {
        let err = serve_metrics("0.0.0.0:0".parse().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, TelemetryError::NotLoopback(_)), "{err}");
        assert!(err.to_string().contains("loopback only"), "{err}");
    }
}
