//! The SSRF table: each URL with the exact check that refuses it and a fragment of the reason,
//! through the same parse → grant → address → resolution steps a request takes.

use super::*;

/// What the grant of the table names.
const GRANTED: &[&str] = &[
    "example.com",
    "api.example.com:8443",
    "127.0.0.1:8080",
    "localhost:8080",
    "metadata.google.internal",
    "metadata",
];

#[derive(Debug)]
enum Expect {
    Refused(&'static str, &'static str),
    /// Permitted by this grant entry (names other than `localhost` are not resolved here).
    Permitted(&'static str),
}
use Expect::{Permitted, Refused};

const CASES: &[(&str, Expect)] = &[
    // Alternative spellings of 127.0.0.1 (the grant names `127.0.0.1:8080`).
    (
        "http://2130706433:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://0x7f000001:8080/",
        Refused("net-host", "numeric last label"),
    ),
    (
        "http://0177.0.0.1:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://0x7f.0.0.1:8080/",
        Refused("net-host", "numeric last label"),
    ),
    (
        "http://0x7f.1:8080/",
        Refused("net-host", "numeric last label"),
    ),
    (
        "http://127.1:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://127.0.1:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://0177.1:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://127.000.000.001:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://017700000001:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://0:8080/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://1.2.3.4.5/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://4294967295/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://2852039166/",
        Refused("net-host", "canonical dotted-quad"),
    ),
    (
        "http://127.0.0.1.:8080/",
        Refused("net-host", "ends with a dot"),
    ),
    (
        "http://[::ffff:127.0.0.1]:8080/",
        Refused("net-host", "IPv4-mapped"),
    ),
    (
        "http://[::ffff:7f00:1]:8080/",
        Refused("net-host", "IPv4-mapped"),
    ),
    (
        "http://[0:0:0:0:0:ffff:127.0.0.1]:8080/",
        Refused("net-host", "IPv4-mapped"),
    ),
    (
        "http://[::ffff:169.254.169.254]/",
        Refused("net-host", "IPv4-mapped"),
    ),
    (
        "http://[::127.0.0.1]:8080/",
        Refused("net-host", "IPv4-compatible"),
    ),
    (
        "http://[0:0:0:0:0:0:0:1]:8080/",
        Refused("net-host", "canonical spelling `[::1]`"),
    ),
    (
        "http://[::1%25eth0]:8080/",
        Refused("net-host", "zone identifier"),
    ),
    ("http://[::1:8080/", Refused("net-host", "without `]`")),
    ("http://::1/", Refused("net-host", "need brackets")),
    (
        "http://%31%32%37.0.0.1:8080/",
        Refused("net-host", "percent-encoded"),
    ),
    (
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1:8080/",
        Refused("net-host", "not ASCII"),
    ),
    (
        "http://127\u{3002}0\u{3002}0\u{3002}1:8080/",
        Refused("net-host", "not ASCII"),
    ),
    // IPv6 forms embedding IPv4, and IPv6 special ranges.
    (
        "http://[64:ff9b::7f00:1]:8080/",
        Refused("net-address", "NAT64"),
    ),
    (
        "http://[2002:7f00:1::]:8080/",
        Refused("net-address", "6to4"),
    ),
    (
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        Refused("net-address", "Teredo"),
    ),
    ("http://[::1]:8080/", Refused("net-address", "loopback")),
    ("http://[::]/", Refused("net-address", "unspecified")),
    ("http://[fe80::1]/", Refused("net-address", "link-local")),
    ("http://[fc00::1]/", Refused("net-address", "unique-local")),
    ("http://[ff02::1]/", Refused("net-address", "multicast")),
    (
        "http://[2001:db8::1]/",
        Refused("net-address", "documentation"),
    ),
    (
        "http://[fd00:ec2::254]/",
        Refused("net-address", "cloud metadata"),
    ),
    // Userinfo, backslashes, fragments and other URL tricks.
    (
        "http://user@127.0.0.1:8080/",
        Refused("net-url", "userinfo"),
    ),
    (
        "http://example.com@127.0.0.1:8080/",
        Refused("net-url", "userinfo"),
    ),
    (
        "http://127.0.0.1:8080@example.com/",
        Refused("net-url", "userinfo"),
    ),
    (
        "http://example.com\\@127.0.0.1/",
        Refused("net-url", "backslash"),
    ),
    ("http:\\\\127.0.0.1:8080\\", Refused("net-url", "backslash")),
    (
        "http://example.com#@127.0.0.1/",
        Refused("net-url", "fragment"),
    ),
    (
        "http://127.0.0.1:08080/",
        Refused("net-url", "without leading zeros"),
    ),
    (
        "http://127.0.0.1:80800/",
        Refused("net-url", "from 1 to 65535"),
    ),
    ("http://127.0.0.1:0/", Refused("net-url", "from 1 to 65535")),
    ("http://127.0.0.1:/", Refused("net-url", "port ``")),
    ("http:// example.com/", Refused("net-url", "whitespace")),
    ("http://example.com/a b", Refused("net-url", "whitespace")),
    (
        "http://example.com/\u{0}x",
        Refused("net-url", "control character"),
    ),
    ("http://example.com/\u{e9}", Refused("net-url", "not ASCII")),
    (
        "ftp://example.com/",
        Refused("net-url", "only http and https"),
    ),
    (
        "file:///etc/passwd",
        Refused("net-url", "only http and https"),
    ),
    (
        "gopher://127.0.0.1:8080/",
        Refused("net-url", "only http and https"),
    ),
    ("//example.com/", Refused("net-url", "not an absolute URL")),
    (
        "http:/example.com",
        Refused("net-url", "not an absolute URL"),
    ),
    ("http:///", Refused("net-url", "no host")),
    // Names: plain LDH only.
    (
        "http://xn--exmple-cua.com/",
        Refused("net-host", "punycode"),
    ),
    (
        "http://ex\u{430}mple.com/",
        Refused("net-host", "not ASCII"),
    ),
    (
        "http://example.com./",
        Refused("net-host", "ends with a dot"),
    ),
    (
        "http://exa_mple.com/",
        Refused("net-host", "letter-digit-hyphen"),
    ),
    (
        "http://-example.com/",
        Refused("net-host", "starting or ending with `-`"),
    ),
    ("http://example..com/", Refused("net-host", "empty label")),
    // Refused ranges, not named by the grant.
    ("http://127.0.0.1:9090/", Refused("net-address", "loopback")),
    ("http://127.0.0.2:8080/", Refused("net-address", "loopback")),
    (
        "http://0.0.0.0:8080/",
        Refused("net-address", "unspecified"),
    ),
    (
        "http://169.254.169.254/latest/meta-data/",
        Refused("net-address", "cloud metadata"),
    ),
    (
        "http://100.100.100.200/",
        Refused("net-address", "cloud metadata"),
    ),
    ("http://10.0.0.1/", Refused("net-address", "private")),
    ("http://172.16.5.4/", Refused("net-address", "private")),
    ("http://192.168.1.1/", Refused("net-address", "private")),
    ("http://100.64.0.1/", Refused("net-address", "CGNAT")),
    ("http://169.254.1.1/", Refused("net-address", "link-local")),
    ("http://224.0.0.1/", Refused("net-address", "multicast")),
    (
        "http://255.255.255.255/",
        Refused("net-address", "broadcast"),
    ),
    ("http://198.18.0.1/", Refused("net-address", "benchmarking")),
    ("http://192.0.2.1/", Refused("net-address", "documentation")),
    ("http://240.0.0.1/", Refused("net-address", "reserved")),
    // Metadata names, even when the grant names them.
    (
        "http://metadata.google.internal/",
        Refused("net-address", "cloud metadata"),
    ),
    (
        "http://metadata/computeMetadata/v1/",
        Refused("net-address", "cloud metadata"),
    ),
    // A granted name resolving into a refused range.
    (
        "http://localhost:8080/",
        Refused("net-address", "resolves to 127.0.0.1"),
    ),
    // Hosts and ports the grant does not name.
    (
        "http://example.com:8080/",
        Refused("net-destination", "`example.com:8080` is not named"),
    ),
    (
        "http://evil.example/",
        Refused("net-destination", "not named by the grant"),
    ),
    (
        "http://api.example.com/",
        Refused("net-destination", "not named by the grant"),
    ),
    (
        "http://8.8.8.8/",
        Refused("net-destination", "not named by the grant"),
    ),
    // Permitted.
    ("http://EXAMPLE.com/", Permitted("example.com")),
    ("https://example.com/path?q=1", Permitted("example.com")),
    (
        "https://api.example.com:8443/x",
        Permitted("api.example.com:8443"),
    ),
    ("http://127.0.0.1:8080/ok", Permitted("127.0.0.1:8080")),
];

async fn decide(policy: &DestinationPolicy, url: &str) -> Result<Permit, NetRefusal> {
    let target = Target::parse(url)?;
    let permit = policy.permit(&target.host, target.port)?;
    if matches!(&target.host, Host::Ip(_)) || target.host == Host::Name("localhost".into()) {
        policy.resolve(&target.host, target.port, &permit).await?;
    }
    Ok(permit)
}

#[tokio::test]
async fn the_ssrf_table_refuses_each_case_with_its_check() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let policy = DestinationPolicy::from_entries(GRANTED.iter().copied());
    let mut wrong = Vec::new();
    for (url, expect) in CASES {
        let got = decide(&policy, url).await;
        let ok = match (expect, &got) {
            (Refused(check, fragment), Err(e)) => {
                e.check.as_str() == *check && e.message.contains(fragment)
            }
            (Permitted(entry), Ok(permit)) => permit.entry == *entry,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{url:?}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn admit_answers_the_egress_proxy_with_checked_addresses() {
    let policy = DestinationPolicy::from_entries(["127.0.0.1:8080", "localhost:8080"]);
    let addrs = policy.admit("127.0.0.1", 8080).await.unwrap();
    assert_eq!(addrs, ["127.0.0.1:8080".parse().unwrap()]);
    let refused = policy.admit("127.0.0.1", 8081).await.unwrap_err();
    assert_eq!(refused.check, NetCheck::Address);
    let refused = policy.admit("localhost", 8080).await.unwrap_err();
    assert_eq!(refused.check, NetCheck::Address, "{refused}");
    let refused = policy.admit("2130706433", 8080).await.unwrap_err();
    assert_eq!(refused.check, NetCheck::Host);
    let refused = policy.admit("[::ffff:127.0.0.1]", 8080).await.unwrap_err();
    assert_eq!(refused.check, NetCheck::Host);
    assert!(DestinationPolicy::default()
        .admit("example.com", 443)
        .await
        .is_err());
}

#[test]
fn agent_headers_and_methods_are_checked() {
    let h = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
    for name in [
        "Host",
        "Proxy-Authorization",
        "proxy-connection",
        "Transfer-Encoding",
        "Connection",
        "Content-Length",
        "Upgrade",
        "TE",
        "Keep-Alive",
    ] {
        let e = check_agent_headers(&h(name, "x")).unwrap_err();
        assert_eq!(e.check, NetCheck::Header, "{name}");
    }
    assert!(check_agent_headers(&h("X-Ok", "a\r\nHost: evil")).is_err());
    assert!(check_agent_headers(&h("Bad Name", "x")).is_err());
    assert!(check_agent_headers(&h("Accept", "text/plain")).is_ok());
    for m in ["CONNECT", "TRACE", "G ET", ""] {
        assert_eq!(check_method(m).unwrap_err().check, NetCheck::Method, "{m}");
    }
    assert!(check_method("PATCH").is_ok());
    let target = Target::parse("http://127.0.0.1:8080/x").unwrap();
    let headers = assemble_outgoing_headers(&target, &h("Accept", "*/*"), 3).unwrap();
    assert_eq!(headers["host"], "127.0.0.1:8080");
    assert_eq!(headers["content-length"], "3");
}

#[test]
fn redirect_locations_join_and_are_parsed_strictly() {
    let base = Target::parse("http://127.0.0.1:8080/a/b?q").unwrap();
    let url = |l: &str| base.join(l).map(|t| t.url());
    assert_eq!(url("/c").unwrap(), "http://127.0.0.1:8080/c");
    assert_eq!(url("c").unwrap(), "http://127.0.0.1:8080/a/c");
    assert_eq!(url("?z").unwrap(), "http://127.0.0.1:8080/a/b?z");
    assert_eq!(url("//example.com/x").unwrap(), "http://example.com/x");
    assert_eq!(url("https://example.com").unwrap(), "https://example.com/");
    assert_eq!(url("//2130706433/").unwrap_err().check, NetCheck::Host);
    assert_eq!(
        url("http://user@example.com/").unwrap_err().check,
        NetCheck::Url
    );
}

#[test]
fn methods_and_path_prefixes_the_grant_names_restrict_a_destination() {
    let rule = trust_sdk::vocabulary::HttpRule {
        destination: "api.example.com".into(),
        methods: vec!["GET".into()],
        path_prefixes: vec!["/repos/".into(), "/user".into()],
    };
    let policy =
        DestinationPolicy::from_entries(["api.example.com", "example.com"]).with_rules(vec![rule]);
    let check = |method: &str, url: &str| {
        let target = Target::parse(url).unwrap();
        let permit = policy.permit(&target.host, target.port).unwrap();
        policy.check_request(&permit, method, &target)
    };
    assert!(check("GET", "https://api.example.com/repos/a/b?x=1").is_ok());
    assert!(check("GET", "https://api.example.com/user").is_ok());
    assert!(check("GET", "https://api.example.com/user/keys").is_ok());
    // Another destination of the grant is not restricted.
    assert!(check("DELETE", "https://example.com/anything").is_ok());
    let refused = [
        (
            "POST",
            "https://api.example.com/repos/a",
            NetCheck::Method,
            "not granted",
        ),
        (
            "GET",
            "https://api.example.com/admin",
            NetCheck::Path,
            "outside the prefixes",
        ),
        (
            "GET",
            "https://api.example.com/users",
            NetCheck::Path,
            "outside the prefixes",
        ),
        (
            "GET",
            "https://api.example.com/repos",
            NetCheck::Path,
            "outside the prefixes",
        ),
        (
            "GET",
            "https://api.example.com/repos/../admin",
            NetCheck::Path,
            "dot segment",
        ),
        (
            "GET",
            "https://api.example.com/repos/%2e%2e/admin",
            NetCheck::Path,
            "encoded",
        ),
        (
            "GET",
            "https://api.example.com/repos/..%2Fadmin",
            NetCheck::Path,
            "encoded",
        ),
        (
            "GET",
            "https://api.example.com/repos/./x",
            NetCheck::Path,
            "dot segment",
        ),
    ];
    for (method, url, check_name, fragment) in refused {
        let e = check(method, url).unwrap_err();
        assert_eq!(e.check, check_name, "{url}: {e}");
        assert!(e.message.contains(fragment), "{url}: {e}");
    }
}
