//! One `net.http` exchange: connect to a checked address, send, follow redirects by hand.
//!
//! The client is hyper's HTTP/1 connection over a `TcpStream` this module opens to an address
//! [`DestinationPolicy`] checked (and rustls for `https`, with the web PKI roots); it never
//! resolves a name itself and never reads proxy settings. Each redirect is parsed strictly and
//! checked against the grant and the address rules again before anything is sent to it; the
//! whole exchange runs within one deadline and reads at most the allowed body.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use super::destination::{DestinationPolicy, Permit};
use super::headers::{assemble_outgoing_headers, check_method};
use super::refusal::{NetCheck, NetRefusal};
use super::target::{Host, Scheme, Target};

/// The executor's `[http]` ceilings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest request body.
    pub max_request_bytes: u64,
    /// The largest response body; a longer one is refused.
    pub max_response_bytes: u64,
    /// The whole exchange (resolution, connection, redirects, body) within this.
    pub timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 1 << 20,
            max_response_bytes: 8 << 20,
            timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// A `net.http` request as admitted: checked method, target and headers, the grant's policy
/// (for redirects), and the checked addresses of the first hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    pub target: Target,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request's deadline (never above the executor's).
    pub timeout: Duration,
    /// Body bytes kept before the result is marked truncated; 0: the executor's maximum,
    /// beyond which the response is refused.
    pub keep_bytes: u64,
    pub policy: Arc<DestinationPolicy>,
    pub permit: Permit,
    /// The first hop's checked addresses (resolved once, before the intent record).
    pub addresses: Vec<SocketAddr>,
    /// Headers the grant's secret references inject (`header:Name`), set at exec time over
    /// any agent header of the same name; sent to the origin the agent addressed only (a
    /// redirect elsewhere drops them). Never recorded: the parameters digest was taken from
    /// the agent's request.
    pub secret_headers: Vec<(String, crate::secrets::SecretValue)>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOutcome {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
    /// The final URL (after redirects).
    pub url: String,
    pub redirects: Vec<String>,
    /// The checked address the final response came from.
    pub address: String,
}

/// Headers dropped when a redirect leaves the origin the agent addressed.
const ORIGIN_BOUND_HEADERS: &[&str] = &["authorization", "cookie"];

/// Runs `call` within its deadline.
pub async fn exchange(call: &HttpCall, limits: &HttpLimits) -> Result<HttpOutcome, NetRefusal> {
    match tokio::time::timeout(call.timeout, follow(call, limits)).await {
        Ok(result) => result,
        Err(_) => Err(NetRefusal::new(
            NetCheck::Timeout,
            format!(
                "no complete response from `{}` within {} ms",
                call.target.url(),
                call.timeout.as_millis()
            ),
        )),
    }
}

fn redirect_refusal(location: &str, e: &NetRefusal) -> NetRefusal {
    NetRefusal::new(
        NetCheck::Redirect,
        format!(
            "redirect to `{location}` refused: {}: {}",
            e.check.as_str(),
            e.message
        ),
    )
}

/// The agent's headers with every secret header set over any of the same name.
fn with_secret_headers(
    agent: &[(String, String)],
    secrets: &[(String, crate::secrets::SecretValue)],
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = agent
        .iter()
        .filter(|(n, _)| !secrets.iter().any(|(s, _)| s.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    headers.extend(
        secrets
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().to_string())),
    );
    headers
}

async fn follow(call: &HttpCall, limits: &HttpLimits) -> Result<HttpOutcome, NetRefusal> {
    let mut method = check_method(&call.method)?;
    let mut target = call.target.clone();
    let mut headers = with_secret_headers(&call.headers, &call.secret_headers);
    let mut body = call.body.clone();
    let mut addresses = call.addresses.clone();
    if addresses.is_empty() {
        addresses = call
            .policy
            .resolve(&target.host, target.port, &call.permit)
            .await?;
    }
    let mut redirects = Vec::new();
    loop {
        let (response, address, connection) =
            send_once(&target, &method, &headers, &body, &addresses).await?;
        let status = response.status();
        let location = (status.is_redirection() && status != StatusCode::NOT_MODIFIED)
            .then(|| response.headers().get(hyper::header::LOCATION).cloned())
            .flatten();
        if let Some(location) = location {
            drop(connection);
            let location = location.to_str().map_err(|_| {
                NetRefusal::new(NetCheck::Redirect, "a redirect's `Location` is not ASCII")
            })?;
            if redirects.len() >= limits.max_redirects as usize {
                return Err(NetRefusal::new(
                    NetCheck::Redirect,
                    format!(
                        "more than {} redirects (the next to `{location}`)",
                        limits.max_redirects
                    ),
                ));
            }
            let next = target
                .join(location)
                .map_err(|e| redirect_refusal(location, &e))?;
            let to_get = status == StatusCode::SEE_OTHER
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && method == Method::POST);
            let next_method = match to_get && method != Method::HEAD {
                true => Method::GET,
                false => method.clone(),
            };
            let permit = (call.policy.permit(&next.host, next.port))
                .map_err(|e| redirect_refusal(location, &e))?;
            (call
                .policy
                .check_request(&permit, next_method.as_str(), &next))
            .map_err(|e| redirect_refusal(location, &e))?;
            addresses = (call.policy.resolve(&next.host, next.port, &permit).await)
                .map_err(|e| redirect_refusal(location, &e))?;
            if (&next.scheme, &next.host, next.port) != (&target.scheme, &target.host, target.port)
            {
                headers.retain(|(n, _)| {
                    !ORIGIN_BOUND_HEADERS.contains(&n.to_ascii_lowercase().as_str())
                        && !call
                            .secret_headers
                            .iter()
                            .any(|(secret, _)| secret.eq_ignore_ascii_case(n))
                });
            }
            if next_method != method {
                method = next_method;
                body.clear();
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            }
            redirects.push(next.url());
            target = next;
            continue;
        }
        let (parts, incoming) = response.into_parts();
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (body, truncated) = read_body(incoming, call.keep_bytes, limits, declared).await?;
        drop(connection);
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        return Ok(HttpOutcome {
            status: status.as_u16(),
            headers,
            body,
            truncated,
            url: target.url(),
            redirects,
            address: address.to_string(),
        });
    }
}

/// The body, at most `keep` bytes (then truncated) or, when the request set no smaller cap,
/// refused beyond the executor's maximum.
async fn read_body(
    mut incoming: Incoming,
    keep: u64,
    limits: &HttpLimits,
    declared: Option<u64>,
) -> Result<(Vec<u8>, bool), NetRefusal> {
    let max = limits.max_response_bytes;
    let keep = if keep == 0 { max } else { keep.min(max) };
    let refuse_beyond = keep == max;
    let too_large = |what: String| {
        NetRefusal::new(
            NetCheck::ResponseSize,
            format!("{what}, more than the executor's limit of {max} bytes"),
        )
    };
    if let (true, Some(n)) = (refuse_beyond, declared) {
        if n > max {
            return Err(too_large(format!("the response declares {n} bytes")));
        }
    }
    let mut out: Vec<u8> = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| {
            NetRefusal::new(
                NetCheck::Protocol,
                format!("reading the response body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = usize::try_from(keep).unwrap_or(usize::MAX) - out.len();
        if data.len() > room {
            if refuse_beyond {
                return Err(too_large("the response body runs on".to_string()));
            }
            out.extend_from_slice(&data[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&data);
    }
    Ok((out, false))
}

/// The connection task of one request, stopped when dropped (a slow server keeps nothing).
struct Connection(JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn send_once(
    target: &Target,
    method: &Method,
    headers: &[(String, String)],
    body: &[u8],
    addresses: &[SocketAddr],
) -> Result<(Response<Incoming>, SocketAddr, Connection), NetRefusal> {
    let mut failures = Vec::new();
    let mut connected = None;
    for addr in addresses {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                connected = Some((stream, *addr));
                break;
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    let Some((stream, addr)) = connected else {
        return Err(NetRefusal::new(
            NetCheck::Connect,
            format!(
                "cannot connect to `{}` ({})",
                target.url(),
                failures.join("; ")
            ),
        ));
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(target.path.as_str())
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| NetRefusal::new(NetCheck::Url, format!("cannot build the request: {e}")))?;
    *request.headers_mut() = assemble_outgoing_headers(target, headers, body.len())?;
    let (response, connection) = match target.scheme {
        Scheme::Http => request_on(stream, request).await?,
        Scheme::Https => {
            let name = match &target.host {
                Host::Name(n) => rustls::pki_types::ServerName::try_from(n.clone())
                    .map_err(|e| NetRefusal::new(NetCheck::Connect, e.to_string()))?,
                Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
            };
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, stream)
                .await
                .map_err(|e| {
                    NetRefusal::new(
                        NetCheck::Connect,
                        format!("TLS with `{}` failed: {e}", target.authority()),
                    )
                })?;
            request_on(tls, request).await?
        }
    };
    Ok((response, addr, connection))
}

async fn request_on<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<(Response<Incoming>, Connection), NetRefusal>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let protocol = |e: hyper::Error| NetRefusal::new(NetCheck::Protocol, e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(protocol)?;
    let connection = Connection(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender.send_request(request).await.map_err(protocol)?;
    Ok((response, connection))
}

/// rustls with the web PKI roots, HTTP/1.1 by ALPN; built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, NetRefusal> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| NetRefusal::new(NetCheck::Connect, format!("TLS configuration: {e}")))
}
