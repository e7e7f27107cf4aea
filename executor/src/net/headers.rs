//! Request methods and headers: what an agent may send, and the one place outgoing headers are
//! assembled.
//!
//! The agent never sets `Host` (it is the checked target's), `Content-Length` or any
//! hop-by-hop or `Proxy-*` header; nothing of the executor's environment (proxy settings,
//! credentials) is ever added.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;

use super::refusal::{NetCheck, NetRefusal};
use super::target::Target;

/// Headers an agent may not send: the target's own, the body framing, and hop-by-hop ones.
const REFUSED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "http2-settings",
];

/// The most headers an agent may send.
const MAX_HEADERS: usize = 64;

/// Parses the method; `CONNECT` (tunnels go through the egress proxy) and `TRACE` are refused.
pub fn check_method(method: &str) -> Result<Method, NetRefusal> {
    let parsed = Method::from_bytes(method.as_bytes()).map_err(|_| {
        NetRefusal::new(
            NetCheck::Method,
            format!("`{method}` is not an HTTP method"),
        )
    })?;
    if parsed == Method::CONNECT || parsed == Method::TRACE {
        return Err(NetRefusal::new(
            NetCheck::Method,
            format!("method `{parsed}` is refused"),
        ));
    }
    Ok(parsed)
}

/// Refuses a header the agent may not send, or one that is not a valid header line.
pub fn check_agent_headers(headers: &[(String, String)]) -> Result<(), NetRefusal> {
    if headers.len() > MAX_HEADERS {
        return Err(NetRefusal::new(
            NetCheck::Header,
            format!("{} headers, limit {MAX_HEADERS}", headers.len()),
        ));
    }
    for (name, value) in headers {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            NetRefusal::new(NetCheck::Header, format!("`{name}` is not a header name"))
        })?;
        let lower = parsed.as_str();
        if REFUSED_HEADERS.contains(&lower) || lower.starts_with("proxy-") {
            return Err(NetRefusal::new(
                NetCheck::Header,
                format!("header `{name}` is refused (set by the executor or hop-by-hop)"),
            ));
        }
        HeaderValue::from_str(value).map_err(|_| {
            NetRefusal::new(
                NetCheck::Header,
                format!("the value of header `{name}` is not a valid header value"),
            )
        })?;
    }
    Ok(())
}

/// The headers of one outgoing request to `target`: `Host` from the checked target, the
/// agent's (checked) headers, a `User-Agent` unless the agent set one, and the body length.
/// Every request (each redirect hop too) is assembled here and nowhere else.
pub fn assemble_outgoing_headers(
    target: &Target,
    agent_headers: &[(String, String)],
    body_len: usize,
) -> Result<HeaderMap, NetRefusal> {
    check_agent_headers(agent_headers)?;
    let invalid = |what: &str| NetRefusal::new(NetCheck::Header, format!("invalid {what}"));
    let mut map = HeaderMap::new();
    map.insert(
        hyper::header::HOST,
        HeaderValue::from_str(&target.authority()).map_err(|_| invalid("host"))?,
    );
    for (name, value) in agent_headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("header name"))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid("header value"))?;
        map.append(name, value);
    }
    if !map.contains_key(hyper::header::USER_AGENT) {
        map.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static("trust-authority-executor"),
        );
    }
    if body_len > 0 {
        map.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    Ok(map)
}
