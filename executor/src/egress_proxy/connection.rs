//! One client connection to the egress proxy, served by hyper's HTTP/1.1 server: `CONNECT
//! host:port` becomes a byte tunnel after the gate admits the destination; an absolute
//! `http://` URI is forwarded (in origin form, hop-by-hop headers dropped) over a fresh
//! connection to an admitted address. Anything else is answered 400 and recorded.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;

use super::counted::CountedStream;
use super::gate::{EgressGate, EgressRefusal};
use super::ledger::{Counters, EgressVerdict, Ledger};

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one connection attempt to an admitted address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers that belong to the hop between the child and the proxy, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What every connection of one run shares.
pub(super) struct Shared {
    pub gate: Arc<dyn EgressGate>,
    pub ledger: Ledger,
    /// Changes (closes) when the run ends: tunnels and forwarded requests stop.
    pub shutdown: watch::Receiver<()>,
}

/// Serves one client connection until it closes.
pub(super) async fn serve(stream: UnixStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(req, &shared).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        tunnel(req, shared).await
    } else {
        forward(req, shared).await
    }
}

fn text(status: StatusCode, message: String) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(message + "\n"))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    // A refused client gets no second try on the same connection.
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn malformed(shared: &Shared, method: &str, uri: &Uri, why: &str) -> Response<ProxyBody> {
    let host = uri.host().map(unbracket).unwrap_or_default();
    let port = uri.port_u16().unwrap_or(0);
    shared.ledger.record(
        host,
        port,
        method,
        EgressVerdict::Malformed(why.to_string()),
    );
    text(StatusCode::BAD_REQUEST, format!("egress proxy: {why}"))
}

/// `[::1]` → `::1`.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Asks the gate, records its answer, and connects to the first admitted address that answers.
async fn admit_and_connect(
    shared: &Shared,
    host: &str,
    port: u16,
    method: &str,
) -> Result<(TcpStream, Arc<Counters>), Response<ProxyBody>> {
    let gate = Arc::clone(&shared.gate);
    let asked = host.to_string();
    let admitted = tokio::task::spawn_blocking(move || gate.admit(&asked, port))
        .await
        .unwrap_or_else(|e| Err(EgressRefusal::Refused(format!("the gate failed: {e}"))));
    let addrs = match admitted {
        Ok(addrs) => addrs,
        Err(refusal) => {
            let why = refusal.to_string();
            shared
                .ledger
                .record(host, port, method, EgressVerdict::Refused(why.clone()));
            return Err(text(
                StatusCode::FORBIDDEN,
                format!("egress refused: {why}"),
            ));
        }
    };
    let mut last = "no address".to_string();
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let counters =
                    shared
                        .ledger
                        .record(host, port, method, EgressVerdict::Allowed(addr));
                return Ok((tcp, counters));
            }
            Ok(Err(e)) => last = format!("{addr}: {}", e.to_string().to_lowercase()),
            Err(_) => last = format!("{addr}: timed out"),
        }
    }
    shared
        .ledger
        .record(host, port, method, EgressVerdict::Unreachable(last.clone()));
    Err(text(
        StatusCode::BAD_GATEWAY,
        format!("egress: cannot connect to `{host}` port {port}: {last}"),
    ))
}

async fn tunnel(req: Request<Incoming>, shared: &Shared) -> Response<ProxyBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        return malformed(shared, "CONNECT", req.uri(), "CONNECT needs `host:port`");
    };
    let host = unbracket(authority.host()).to_string();
    let Some(port) = authority.port_u16() else {
        return malformed(shared, "CONNECT", req.uri(), "CONNECT needs `host:port`");
    };
    let (tcp, counters) = match admit_and_connect(shared, &host, port, "CONNECT").await {
        Ok(connected) => connected,
        Err(response) => return response,
    };
    let mut shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        let relay = async move {
            let Ok(upgraded) = hyper::upgrade::on(req).await else {
                return;
            };
            let mut client = TokioIo::new(upgraded);
            let mut destination = CountedStream::new(tcp, counters);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut destination).await;
        };
        tokio::select! {
            () = relay => {}
            _ = shutdown.changed() => {}
        }
    });
    Response::new(Empty::new().map_err(|never| match never {}).boxed())
}

async fn forward(mut req: Request<Incoming>, shared: &Shared) -> Response<ProxyBody> {
    let method = req.method().to_string();
    let uri = req.uri().clone();
    if uri.scheme_str() != Some("http") {
        return malformed(
            shared,
            &method,
            &uri,
            "only `CONNECT host:port` and absolute `http://` URIs are proxied",
        );
    }
    let Some(host) = uri.host().map(unbracket).map(str::to_string) else {
        return malformed(shared, &method, &uri, "the URI names no host");
    };
    let port = uri.port_u16().unwrap_or(80);
    let origin_form = uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(origin_form) = origin_form.parse::<Uri>() else {
        return malformed(shared, &method, &uri, "the URI's path does not parse");
    };
    let (tcp, counters) = match admit_and_connect(shared, &host, port, &method).await {
        Ok(connected) => connected,
        Err(response) => return response,
    };
    let io = TokioIo::new(CountedStream::new(tcp, counters));
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
        Ok(pair) => pair,
        Err(e) => {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("egress: `{host}` port {port}: {e}"),
            )
        }
    };
    let mut shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = connection => {}
            _ = shutdown.changed() => {}
        }
    });
    *req.uri_mut() = origin_form;
    let headers = req.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    if !headers.contains_key(HOST) {
        if let Some(authority) = uri.authority() {
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                headers.insert(HOST, value);
            }
        }
    }
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    match sender.send_request(req).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(e) => text(
            StatusCode::BAD_GATEWAY,
            format!("egress: `{host}` port {port}: {e}"),
        ),
    }
}
