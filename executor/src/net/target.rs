//! Strict URL and host parsing: one spelling per address, plain letter-digit-hyphen names only.
//!
//! Accepted: `http` or `https`, a host that is a lower- or upper-case LDH name whose last label
//! starts with a letter, a canonical dotted-quad IPv4 literal, or a bracketed IPv6 literal in
//! its canonical (RFC 5952) form; an optional decimal port without leading zeros; a path and
//! query of printable ASCII. Everything else is refused with the reason: userinfo, backslashes,
//! fragments, percent-encoded, unicode or punycode hosts, trailing dots, numeric forms other
//! than the dotted quad (decimal, octal, hex, short), IPv4-mapped or -compatible IPv6, zones.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::refusal::{NetCheck, NetRefusal};

/// The longest URL accepted.
const MAX_URL_BYTES: usize = 8192;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A host as accepted: a lower-cased name or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
    /// Path and query in origin form (`/a?b`), never empty.
    pub path: String,
}

fn url_error(message: impl Into<String>) -> NetRefusal {
    NetRefusal::new(NetCheck::Url, message)
}

fn host_error(message: impl Into<String>) -> NetRefusal {
    NetRefusal::new(NetCheck::Host, message)
}

impl Target {
    /// Parses an absolute `http`/`https` URL strictly.
    pub fn parse(url: &str) -> Result<Target, NetRefusal> {
        if url.len() > MAX_URL_BYTES {
            return Err(url_error(format!(
                "the URL is {} bytes, limit {MAX_URL_BYTES}",
                url.len()
            )));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(url_error(
                "the URL contains whitespace or a control character",
            ));
        }
        if url.contains('\\') {
            return Err(url_error("the URL contains a backslash"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(url_error(format!(
                "`{url}` is not an absolute URL (`http://` or `https://`)"
            )));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => {
                return Err(url_error(format!(
                    "scheme `{scheme}` is refused: only http and https"
                )))
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(url_error(format!(
                "userinfo in `{authority}` is refused (credentials or a second host before `@`)"
            )));
        }
        if path.contains('#') {
            return Err(url_error("a fragment (`#...`) is refused"));
        }
        if !path.is_ascii() {
            return Err(url_error("the path is not ASCII: percent-encode it"));
        }
        let (host_text, port) = split_port(authority)?;
        let host = parse_host(host_text)?;
        let port = match port {
            None => scheme.default_port(),
            Some(p) => parse_port(p)?,
        };
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Target {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The `Host` header value: the host, and the port when it is not the scheme's default.
    pub fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL in its one canonical spelling.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }

    /// The target of a redirect's `Location` from this target: absolute, scheme-relative
    /// (`//host/...`), absolute-path (`/...`) or relative (`x`, `?q`), all re-parsed strictly.
    pub fn join(&self, location: &str) -> Result<Target, NetRefusal> {
        if location.contains("://") {
            return Target::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Target::parse(&format!("{}://{rest}", self.scheme.as_str()));
        }
        let base = format!("{}://{}", self.scheme.as_str(), self.authority());
        if location.starts_with('/') {
            return Target::parse(&format!("{base}{location}"));
        }
        let path_only = self.path.split('?').next().unwrap_or("/");
        if location.starts_with('?') {
            return Target::parse(&format!("{base}{path_only}{location}"));
        }
        let dir = &path_only[..path_only.rfind('/').map_or(0, |i| i + 1)];
        Target::parse(&format!("{base}{dir}{location}"))
    }
}

fn split_port(authority: &str) -> Result<(&str, Option<&str>), NetRefusal> {
    if authority.is_empty() {
        return Err(url_error("the URL has no host"));
    }
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err(host_error(format!("`{authority}` opens `[` without `]`")));
        };
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            r => match r.strip_prefix(':') {
                Some(p) => Ok((host, Some(p))),
                None => Err(url_error(format!("`{authority}` has text after `]`"))),
            },
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if port.contains(':') || host.is_empty() => Err(host_error(format!(
            "`{authority}` is not `host` or `host:port` (IPv6 literals need brackets)"
        ))),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

fn parse_port(text: &str) -> Result<u16, NetRefusal> {
    let canonical = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    match text.parse::<u16>() {
        Ok(p) if canonical && p > 0 => Ok(p),
        _ => Err(url_error(format!(
            "port `{text}` is not a decimal number from 1 to 65535 without leading zeros"
        ))),
    }
}

/// Parses a host as it appears in a URL, a `CONNECT` line or an absolute URI (IPv6 in
/// brackets), accepting only plain names and canonical IP literals.
pub fn parse_host(raw: &str) -> Result<Host, NetRefusal> {
    if raw.is_empty() {
        return Err(url_error("the URL has no host"));
    }
    if let Some(inner) = raw.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(host_error(format!("`{raw}` opens `[` without `]`")));
        };
        return parse_ipv6(inner).map(|ip| Host::Ip(IpAddr::V6(ip)));
    }
    if !raw.is_ascii() {
        return Err(host_error(format!(
            "host `{raw}` is not ASCII: unicode, fullwidth and IDN hosts are refused \
             (only plain letter-digit-hyphen names)"
        )));
    }
    if raw.contains('%') {
        return Err(host_error(format!(
            "host `{raw}` is percent-encoded: refused"
        )));
    }
    if raw.ends_with('.') {
        return Err(host_error(format!(
            "host `{raw}` ends with a dot: refused (one spelling per name)"
        )));
    }
    if raw.contains(':') {
        return Err(host_error(format!(
            "host `{raw}` contains `:` (IPv6 literals need brackets)"
        )));
    }
    if raw.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_dotted_quad(raw).map(|ip| Host::Ip(IpAddr::V4(ip)));
    }
    let name = raw.to_ascii_lowercase();
    if name.len() > 253 {
        return Err(host_error("host name is longer than 253 bytes"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(host_error(format!("host `{raw}` has an empty label")));
        }
        if label.len() > 63 {
            return Err(host_error(format!(
                "host `{raw}` has a label longer than 63 bytes"
            )));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(host_error(format!(
                "host `{raw}` is not a plain letter-digit-hyphen name"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(host_error(format!(
                "host `{raw}` has a label starting or ending with `-`"
            )));
        }
        if label.starts_with("xn--") {
            return Err(host_error(format!(
                "host `{raw}` has a punycode (IDN) label: refused as a possible confusable"
            )));
        }
    }
    let last = labels.last().copied().unwrap_or_default();
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(host_error(format!(
            "host `{raw}` is not a canonical IPv4 address nor a name (a numeric last label: \
             decimal, octal, hex and short address forms are refused)"
        )));
    }
    Ok(Host::Name(name))
}

fn parse_dotted_quad(raw: &str) -> Result<Ipv4Addr, NetRefusal> {
    let refuse = || {
        host_error(format!(
            "host `{raw}` is not a canonical dotted-quad IPv4 address (decimal, octal, hex \
             and short address forms are refused)"
        ))
    };
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 4 {
        return Err(refuse());
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return Err(refuse());
        }
        *slot = part.parse::<u8>().map_err(|_| refuse())?;
    }
    Ok(Ipv4Addr::from(octets))
}

fn parse_ipv6(inner: &str) -> Result<Ipv6Addr, NetRefusal> {
    if inner.contains('%') {
        return Err(host_error(format!(
            "`[{inner}]` has a zone identifier: refused"
        )));
    }
    let ip: Ipv6Addr = inner
        .parse()
        .map_err(|_| host_error(format!("`[{inner}]` is not an IPv6 address")))?;
    if ip.to_ipv4_mapped().is_some() {
        return Err(host_error(format!(
            "`[{inner}]` is an IPv4-mapped IPv6 address: it spells an IPv4 address, refused"
        )));
    }
    let s = ip.segments();
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Err(host_error(format!(
            "`[{inner}]` is an IPv4-compatible IPv6 address: it spells an IPv4 address, refused"
        )));
    }
    let canonical = ip.to_string();
    if inner != canonical {
        return Err(host_error(format!(
            "`[{inner}]` is not the canonical spelling `[{canonical}]`"
        )));
    }
    Ok(ip)
}
