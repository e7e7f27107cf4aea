//! The egress gate: the grant's `net.http` claims, matched exactly, then the same destination
//! checks as `net.http` itself (`crate::net::DestinationPolicy`: strict host spelling, one
//! resolution, private, loopback, link-local, metadata and other special ranges refused unless
//! the grant names that exact address). An entry `host:port` admits that port; a bare `host`
//! admits ports 80 and 443. Names are compared without case; nothing else (no wildcard, no
//! suffix, no alternative spelling) matches.

use std::net::SocketAddr;

use trust_sdk::vocabulary::GrantClaims;

use super::gate::{EgressGate, EgressRefusal};

/// Ports a bare host entry admits (plain HTTP and HTTPS).
const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// The hosts a grant names for `net.http`, as an [`EgressGate`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantedHosts {
    entries: Vec<(String, Option<u16>)>,
    /// The SSRF checks every admitted destination must also pass.
    destinations: crate::net::DestinationPolicy,
}

impl GrantedHosts {
    /// The `net.http` scopes of `claims` (empty when it names none).
    pub fn of_claims(claims: &GrantClaims) -> GrantedHosts {
        let net_http = trust_sdk::operation::Operation::NetHttp.as_str();
        GrantedHosts::new(
            claims
                .scopes
                .iter()
                .filter(|(op, _)| op == net_http)
                .map(|(_, host)| host.as_str()),
        )
    }

    /// From entries `host` or `host:port` (`[v6]:port` for an IPv6 literal); an entry whose
    /// port does not parse admits nothing.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> GrantedHosts {
        let entries: Vec<&str> = entries.into_iter().collect();
        GrantedHosts {
            destinations: crate::net::DestinationPolicy::from_entries(entries.iter().copied()),
            entries: entries.into_iter().filter_map(parse_entry).collect(),
        }
    }

    /// Whether the grant names no host.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, as the grant wrote them (for the provenance record).
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(h, p)| match p {
                Some(p) if h.contains(':') => format!("[{h}]:{p}"),
                Some(p) => format!("{h}:{p}"),
                None => h.clone(),
            })
            .collect()
    }

    /// The run record's line: `network none`, or `network egress-proxy hosts=a:1,b`.
    pub fn network_reason(&self) -> String {
        if self.is_empty() {
            "network none".to_string()
        } else {
            format!("network egress-proxy hosts={}", self.names().join(","))
        }
    }

    fn names_host(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|(h, p)| {
            *h == host
                && match p {
                    Some(p) => *p == port,
                    None => DEFAULT_PORTS.contains(&port),
                }
        })
    }
}

fn parse_entry(entry: &str) -> Option<(String, Option<u16>)> {
    let entry = entry.trim().to_ascii_lowercase();
    if entry.is_empty() {
        return None;
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(port) => Some((host.to_string(), Some(port.parse().ok()?))),
            None if tail.is_empty() => Some((host.to_string(), None)),
            None => None,
        };
    }
    match entry.rsplit_once(':') {
        // A bare IPv6 literal has several colons and no port.
        Some((host, _)) if host.contains(':') => Some((entry.clone(), None)),
        Some((host, port)) => Some((host.to_string(), Some(port.parse().ok()?))),
        None => Some((entry.clone(), None)),
    }
}

impl EgressGate for GrantedHosts {
    fn admit(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressRefusal> {
        if !self.names_host(host, port) {
            return Err(EgressRefusal::NotGranted {
                host: host.to_string(),
                port,
            });
        }
        self.destinations
            .admit_blocking(host, port)
            .map_err(|refusal| EgressRefusal::Refused(refusal.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_host_and_port_are_admitted() {
        let gate = GrantedHosts::new(["127.0.0.1:8080", "Example.com", "[::1]:9000", "::2"]);
        assert_eq!(
            gate.admit("127.0.0.1", 8080),
            Ok(vec!["127.0.0.1:8080".parse().unwrap()])
        );
        assert_eq!(
            gate.admit("::1", 9000),
            Ok(vec!["[::1]:9000".parse().unwrap()])
        );
        assert!(gate.names_host("example.COM", 443));
        assert!(gate.names_host("example.com", 80));
        assert!(gate.names_host("::2", 443));
        for (host, port) in [
            ("127.0.0.1", 8081),
            ("127.0.0.2", 8080),
            ("localhost", 8080),
            ("example.com", 8080),
            ("example.com.", 443),
            ("www.example.com", 443),
            ("::1", 9001),
            ("2130706433", 8080),
        ] {
            assert_eq!(
                gate.admit(host, port),
                Err(EgressRefusal::NotGranted {
                    host: host.to_string(),
                    port
                }),
                "{host}:{port}"
            );
        }
    }

    #[test]
    fn a_granted_destination_still_passes_the_ssrf_checks_of_net_http() {
        let gate = GrantedHosts::new(["localhost:8080", "metadata.google.internal"]);
        // Granted by name, but the name resolves to loopback: refused, as for `net.http`.
        match gate.admit("localhost", 8080) {
            Err(EgressRefusal::Refused(why)) => assert!(why.contains("resolves to"), "{why}"),
            other => panic!("localhost was not refused for its address: {other:?}"),
        }
        // A cloud metadata name is refused by name, before any resolution.
        match gate.admit("metadata.google.internal", 80) {
            Err(EgressRefusal::Refused(why)) => {
                assert!(why.contains("metadata.google.internal"), "{why}")
            }
            other => panic!("the metadata name was not refused: {other:?}"),
        }
    }

    #[test]
    fn malformed_entries_admit_nothing() {
        let gate = GrantedHosts::new(["host:notaport", "[::1", "", "host:99999"]);
        assert!(gate.is_empty(), "{gate:?}");
    }

    #[test]
    fn names_keep_the_grant_spelling() {
        let gate = GrantedHosts::new(["127.0.0.1:8080", "example.com", "[::1]:9000"]);
        assert_eq!(
            gate.names(),
            vec!["127.0.0.1:8080", "example.com", "[::1]:9000"]
        );
        assert_eq!(
            gate.network_reason(),
            "network egress-proxy hosts=127.0.0.1:8080,example.com,[::1]:9000"
        );
        assert_eq!(GrantedHosts::default().network_reason(), "network none");
    }
}
