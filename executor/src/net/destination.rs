//! The destination policy: which hosts and ports a grant reaches, at which checked addresses.
//!
//! A grant names destinations as `(net.http, HOST)` or `(net.http, HOST:PORT)` claims; a host
//! without a port stands for ports 80 and 443. A name the grant names is resolved once and every
//! address it resolves to must be outside the refused ranges ([`super::address`]); an IP literal
//! in a refused range is reached only when the grant names that exact address. The egress proxy
//! asks the same question through [`DestinationPolicy::admit`].

use std::net::SocketAddr;

use trust_sdk::operation::Operation;
use trust_sdk::vocabulary::{GrantClaims, HttpRule};

use super::address::{refused_name, refused_range};
use super::refusal::{NetCheck, NetRefusal};
use super::target::{parse_host, Host, Target};

/// One destination as the grant names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Granted {
    /// The claim's text, which is also the resource the grant's Datalog checks.
    text: String,
    host: Host,
    /// `None`: ports 80 and 443.
    port: Option<u16>,
}

/// The destinations one grant names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    granted: Vec<Granted>,
    /// The methods and path prefixes destinations are restricted to (`http_method`,
    /// `http_path` facts), by the grant claim they restrict.
    rules: Vec<HttpRule>,
}

/// What the policy allows for one host and port before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// The grant's claim that covers the destination (the resource checked by the grant).
    pub entry: String,
    /// The grant names this exact IP address: its range is not refused.
    pub exact_address: bool,
}

impl DestinationPolicy {
    /// The policy of a grant: its `net.http` claims. A claim that is not a plain host or
    /// `host:port` reaches nothing.
    pub fn from_grant_claims(claims: &GrantClaims) -> Self {
        Self::from_entries(
            claims
                .scopes
                .iter()
                .filter(|(op, _)| op == Operation::NetHttp.as_str())
                .map(|(_, resource)| resource.as_str()),
        )
        .with_rules(claims.http_rules.clone())
    }

    /// The same destinations restricted by `rules`.
    pub fn with_rules(mut self, rules: Vec<HttpRule>) -> Self {
        self.rules = rules;
        self
    }

    /// Whether `method` and the path of `target` are within what the grant allows for the
    /// destination `permit` names: any, unless the grant restricts it. Where paths are
    /// restricted, a dot segment or a percent-encoded `.`, `/` or `\` is refused (a server
    /// could read it as leaving the prefix).
    pub fn check_request(
        &self,
        permit: &Permit,
        method: &str,
        target: &Target,
    ) -> Result<(), NetRefusal> {
        let Some(rule) = self.rules.iter().find(|r| r.destination == permit.entry) else {
            return Ok(());
        };
        if !rule.methods.is_empty() && !rule.methods.iter().any(|m| m == method) {
            return Err(NetRefusal::new(
                NetCheck::Method,
                format!(
                    "method `{method}` is not granted for `{}` (the grant allows {})",
                    permit.entry,
                    rule.methods.join(", ")
                ),
            ));
        }
        if rule.path_prefixes.is_empty() {
            return Ok(());
        }
        let path = target.path.split('?').next().unwrap_or("/");
        let lower = path.to_ascii_lowercase();
        if path.split('/').any(|s| s == "." || s == "..")
            || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        {
            return Err(NetRefusal::new(
                NetCheck::Path,
                format!(
                    "path `{path}` has a dot segment or an encoded `.`, `/` or `\\`: refused \
                     where the grant restricts paths"
                ),
            ));
        }
        let within = |prefix: &String| {
            let dir = prefix.trim_end_matches('/');
            path == prefix || path.starts_with(&format!("{dir}/"))
        };
        if !rule.path_prefixes.iter().any(within) {
            return Err(NetRefusal::new(
                NetCheck::Path,
                format!(
                    "path `{path}` is outside the prefixes granted for `{}` ({})",
                    permit.entry,
                    rule.path_prefixes.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The policy naming `entries` (`host` or `host:port`, IPv6 in brackets).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Self {
        let granted = entries
            .into_iter()
            .filter_map(|text| {
                let (host, port) = split_entry(text)?;
                let host = parse_host(host).ok()?;
                let port = match port {
                    None => None,
                    Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
                };
                Some(Granted {
                    text: text.to_string(),
                    host,
                    port,
                })
            })
            .collect();
        Self {
            granted,
            rules: Vec::new(),
        }
    }

    /// Whether the grant names no destination at all.
    pub fn is_empty(&self) -> bool {
        self.granted.is_empty()
    }

    /// The destinations as the grant names them.
    pub fn entries(&self) -> Vec<&str> {
        self.granted.iter().map(|g| g.text.as_str()).collect()
    }

    /// Whether `host` and `port` are named by the grant and not refused by name or literal
    /// address; resolution comes after ([`Self::resolve`]).
    pub fn permit(&self, host: &Host, port: u16) -> Result<Permit, NetRefusal> {
        let entry = self.granted.iter().find(|g| {
            g.host == *host
                && match g.port {
                    Some(p) => p == port,
                    None => port == 80 || port == 443,
                }
        });
        match (host, entry) {
            (Host::Ip(_), Some(g)) => Ok(Permit {
                entry: g.text.clone(),
                exact_address: true,
            }),
            (Host::Ip(ip), None) => match refused_range(*ip) {
                Some(why) => Err(NetRefusal::new(
                    NetCheck::Address,
                    format!(
                        "`{host}` is {why}: reached only when the grant names that exact \
                         address and port"
                    ),
                )),
                None => Err(self.not_named(host, port)),
            },
            (Host::Name(_), None) => Err(self.not_named(host, port)),
            (Host::Name(name), Some(g)) => match refused_name(name) {
                Some(why) => Err(NetRefusal::new(
                    NetCheck::Address,
                    format!("`{name}` {why}: refused"),
                )),
                None => Ok(Permit {
                    entry: g.text.clone(),
                    exact_address: false,
                }),
            },
        }
    }

    fn not_named(&self, host: &Host, port: u16) -> NetRefusal {
        NetRefusal::new(
            NetCheck::Destination,
            format!(
                "`{host}:{port}` is not named by the grant (it names {}; a host without a \
                 port stands for ports 80 and 443)",
                match self.granted.is_empty() {
                    true => "no destination".to_string(),
                    false => self.entries().join(", "),
                }
            ),
        )
    }

    /// The checked addresses of a permitted destination: an IP literal as it is; a name
    /// resolved once, refused when any address it resolves to is in a refused range.
    pub async fn resolve(
        &self,
        host: &Host,
        port: u16,
        permit: &Permit,
    ) -> Result<Vec<SocketAddr>, NetRefusal> {
        let name = match host {
            Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, port)]),
            Host::Name(name) => name,
        };
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| NetRefusal::new(NetCheck::Resolve, format!("`{name}`: {e}")))?
            .collect();
        if resolved.is_empty() {
            return Err(NetRefusal::new(
                NetCheck::Resolve,
                format!("`{name}` resolves to no address"),
            ));
        }
        check_resolved(name, &resolved, permit)?;
        Ok(resolved)
    }

    /// [`Self::admit`] for a caller that may block (the egress proxy asks off the async
    /// workers): the same parsing, grant match, resolution once and address checks. `host` is
    /// a name or an IP literal; an IPv6 literal may come without brackets.
    pub fn admit_blocking(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, NetRefusal> {
        let bracketed;
        let host = match host.contains(':') && !host.starts_with('[') {
            true => {
                bracketed = format!("[{host}]");
                bracketed.as_str()
            }
            false => host,
        };
        let host = parse_host(host)?;
        let permit = self.permit(&host, port)?;
        let name = match &host {
            Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, port)]),
            Host::Name(name) => name,
        };
        let resolved: Vec<SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
                .map_err(|e| NetRefusal::new(NetCheck::Resolve, format!("`{name}`: {e}")))?
                .collect();
        if resolved.is_empty() {
            return Err(NetRefusal::new(
                NetCheck::Resolve,
                format!("`{name}` resolves to no address"),
            ));
        }
        check_resolved(name, &resolved, &permit)?;
        Ok(resolved)
    }

    /// The one question of the egress proxy: may `host` (as in a `CONNECT` line or an absolute
    /// URI; IPv6 in brackets) be reached on `port`, and at which checked addresses.
    pub async fn admit(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, NetRefusal> {
        let host = parse_host(host)?;
        let permit = self.permit(&host, port)?;
        self.resolve(&host, port, &permit).await
    }
}

/// Refuses a name that resolved into a refused range, unless the grant named the address.
fn check_resolved(name: &str, resolved: &[SocketAddr], permit: &Permit) -> Result<(), NetRefusal> {
    for addr in resolved {
        if let (Some(why), false) = (refused_range(addr.ip()), permit.exact_address) {
            return Err(NetRefusal::new(
                NetCheck::Address,
                format!(
                    "`{name}` resolves to {}, {why}: refused (such an address is reached \
                     only when the grant names it exactly)",
                    addr.ip()
                ),
            ));
        }
    }
    Ok(())
}

/// `host` and the optional port of a grant entry.
fn split_entry(text: &str) -> Option<(&str, Option<&str>)> {
    if text.starts_with('[') {
        let close = text.find(']')?;
        let (host, rest) = text.split_at(close + 1);
        return match rest {
            "" => Some((host, None)),
            r => Some((host, Some(r.strip_prefix(':')?))),
        };
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((text, None)),
    }
}
