//! `net.http` through the real authority and executor over TLS, against loopback HTTP servers
//! the test starts: the server the grant names is reached; another port, another host, a
//! redirect off the grant, a granted name resolving to loopback, an alternative spelling of the
//! address, an oversized and a slow response are each refused with their check, never reach a
//! server they were refused for, and are recorded in provenance.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_proto::executor::v1::HttpResult;
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord, RecordKind};
use trust_sdk::SdkError;
use trust_tests::cluster::coding_profile;
use trust_tests::{Cluster, ClusterOptions};

/// A loopback HTTP/1.1 server answering by path, remembering each request line it received.
struct TestServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    async fn start(redirect_to: u16) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    log.lock().unwrap().push(line.clone());
                    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                    let respond = |status: &str, extra: &str, body: &[u8]| {
                        let mut r = format!(
                            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    };
                    let reply = match path.as_str() {
                        "/hello" => {
                            respond("200 OK", "x-test: yes\r\n", b"hello from the test server")
                        }
                        "/echo" => respond("200 OK", "", head.as_bytes()),
                        "/redirect-on" => respond("302 Found", "location: /hello\r\n", b""),
                        "/redirect-off" => respond(
                            "302 Found",
                            &format!("location: http://127.0.0.1:{redirect_to}/hello\r\n"),
                            b"",
                        ),
                        "/redirect-spelling" => respond(
                            "302 Found",
                            &format!("location: http://2130706433:{redirect_to}/hello\r\n"),
                            b"",
                        ),
                        "/big" => respond("200 OK", "", &vec![b'x'; 200_000]),
                        "/big-unframed" => {
                            let mut r = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
                            r.extend_from_slice(&vec![b'y'; 200_000]);
                            r
                        }
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(20)).await;
                            respond("200 OK", "", b"too late")
                        }
                        _ => respond("404 Not Found", "", b"no such path"),
                    };
                    let _ = stream.write_all(&reply).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        TestServer { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// The coding profile without its approval rule for `net.http`, allowing the named hosts.
fn profile(hosts: &[String]) -> String {
    restricted_profile(hosts, "")
}

/// [`profile`] with extra lines (`methods`, `paths`) in the `net.http` allow rule.
fn restricted_profile(hosts: &[String], rule_extra: &str) -> String {
    let text = coding_profile().unwrap().replace(
        "[[approval]]\nid = \"network\"\noperations = [\"net.http\"]\nresources = [\"*\"]\n",
        "",
    );
    assert!(
        !text.contains("id = \"network\""),
        "the approval rule moved"
    );
    let quoted: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "{text}\n[[allow]]\nid = \"test-api\"\noperations = [\"net.http\"]\nresources = [{}]\n{rule_extra}\n",
        quoted.join(", ")
    )
}

fn message(err: &SdkError) -> String {
    match err {
        SdkError::Rpc { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

async fn records(cluster: &Cluster) -> Vec<ProvenanceRecord> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap()
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) if r.operation == "net.http" => Some(r),
                _ => None,
            },
        )
        .collect()
}

fn http_result(result: Option<R>) -> HttpResult {
    match result {
        Some(R::Http(h)) => h,
        other => panic!("not an http result: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_http_reaches_the_granted_server_and_refuses_everything_else_recorded() {
    let other = TestServer::start(0).await;
    let server = TestServer::start(other.port).await;
    let named = format!("127.0.0.1:{}", server.port);
    let by_name = format!("localhost:{}", server.port);
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(profile(&[named.clone(), by_name.clone()])),
        executor_extra: "\n[http]\nmax_response_bytes = 65536\ntimeout_ms = 1500\n".into(),
        ..ClusterOptions::default()
    })
    .unwrap();
    let answer = cluster
        .grant("api", &[("net.http", &named), ("net.http", &by_name)])
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let get = |url: String| (url, Vec::<(String, String)>::new());

    // The server the grant names is reached; a redirect on it is followed.
    let base = format!("http://{named}");
    let (url, headers) = get(format!("{base}/hello"));
    let ok = http_result(
        exec.http_request(&grant, &cluster.agent_key, "GET", &url, &headers, b"")
            .await
            .unwrap()
            .result,
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"hello from the test server");
    assert!(ok
        .headers
        .iter()
        .any(|h| h.name == "x-test" && h.value == "yes"));
    assert_eq!(ok.address, named);
    let followed = http_result(
        exec.http_request(
            &grant,
            &cluster.agent_key,
            "GET",
            &format!("{base}/redirect-on"),
            &[],
            b"",
        )
        .await
        .unwrap()
        .result,
    );
    assert_eq!(followed.status, 200);
    assert_eq!(followed.redirects, [format!("{base}/hello")]);
    // What the server saw: the checked Host, the agent's header, no proxy or credential.
    let echo = http_result(
        exec.http_request(
            &grant,
            &cluster.agent_key,
            "POST",
            &format!("{base}/echo"),
            &[("X-Agent".into(), "1".into())],
            b"payload",
        )
        .await
        .unwrap()
        .result,
    );
    let echoed = String::from_utf8_lossy(&echo.body).to_ascii_lowercase();
    assert!(echoed.starts_with("post /echo http/1.1"), "{echoed}");
    assert!(echoed.contains(&format!("host: {named}")), "{echoed}");
    assert!(echoed.contains("x-agent: 1"), "{echoed}");
    assert!(!echoed.contains("proxy"), "{echoed}");

    // Each refusal: (url, check, fragment of the reason).
    let refusals = [
        (
            format!("http://127.0.0.1:{}/hello", other.port),
            "net-address",
            "loopback address",
        ),
        (
            "http://example.com/".to_string(),
            "net-destination",
            "not named by the grant",
        ),
        (
            format!("http://2130706433:{}/hello", server.port),
            "net-host",
            "canonical dotted-quad",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{}/hello", server.port),
            "net-host",
            "IPv4-mapped",
        ),
        (
            format!("http://{by_name}/hello"),
            "net-address",
            "resolves to 127.0.0.1",
        ),
        (
            format!("{base}/redirect-off"),
            "net-redirect",
            "loopback address",
        ),
        (
            format!("{base}/redirect-spelling"),
            "net-redirect",
            "net-host",
        ),
        (
            format!("{base}/big"),
            "net-response-size",
            "declares 200000 bytes",
        ),
        (
            format!("{base}/big-unframed"),
            "net-response-size",
            "runs on",
        ),
        (format!("{base}/slow"), "net-timeout", "within 1500 ms"),
    ];
    for (url, check, fragment) in &refusals {
        let err = exec
            .http_request(&grant, &cluster.agent_key, "GET", url, &[], b"")
            .await
            .unwrap_err();
        let text = message(&err);
        assert!(
            text.starts_with(&format!("{check}: ")) && text.contains(fragment),
            "{url}: {text}"
        );
    }
    // Nothing refused before it was sent reached either server.
    assert!(other.seen().is_empty(), "{:?}", other.seen());
    let seen = server.seen();
    for path in [
        "/hello ",
        "/redirect-off ",
        "/redirect-spelling ",
        "/big ",
        "/slow ",
    ] {
        assert!(seen.iter().any(|l| l.contains(path)), "{path} {seen:?}");
    }
    assert_eq!(
        seen.iter().filter(|l| l.contains("/hello ")).count(),
        2,
        "only the allowed request and the followed redirect reached /hello: {seen:?}"
    );

    // Provenance: the success with its destination, status and digests; every refusal with its
    // check (refused before sending: a refusal record; after: the outcome record's status).
    let records = records(&cluster).await;
    let success = records
        .iter()
        .find(|r| {
            r.kind == RecordKind::Outcome
                && r.reasons
                    .iter()
                    .any(|x| x.starts_with("http status=200 url=") && x.contains("/hello"))
        })
        .expect("the success is recorded");
    assert_eq!(success.parameters["method"], "GET");
    assert!(success.parameters["body_sha256"].is_string());
    assert!(success
        .reasons
        .iter()
        .any(|x| x.contains("response_sha256=")));
    assert!(success
        .reasons
        .iter()
        .any(|x| x
            == &format!("net destination={named} method=GET url={base}/hello addresses={named}")));
    for (url, check, _) in &refusals {
        let recorded = records.iter().any(|r| {
            r.parameters["url"] == url.as_str()
                && match r.kind {
                    RecordKind::Refusal => r.reasons.first().map(String::as_str) == Some(*check),
                    RecordKind::Outcome => r
                        .status
                        .as_deref()
                        .is_some_and(|s| s.starts_with(&format!("{check}: "))),
                    _ => false,
                }
        });
        assert!(recorded, "{url} ({check}) is not recorded: {records:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_paths_named_by_the_profile_bound_the_granted_host() {
    let other = TestServer::start(0).await;
    let server = TestServer::start(other.port).await;
    let named = format!("127.0.0.1:{}", server.port);
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(restricted_profile(
            std::slice::from_ref(&named),
            "methods = [\"GET\"]\npaths = [\"/hello\", \"/redirect-off\"]",
        )),
        ..ClusterOptions::default()
    })
    .unwrap();
    let answer = cluster.grant("api", &[("net.http", &named)]).await.unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let base = format!("http://{named}");
    let ok = http_result(
        exec.http_request(
            &grant,
            &cluster.agent_key,
            "GET",
            &format!("{base}/hello"),
            &[],
            b"",
        )
        .await
        .unwrap()
        .result,
    );
    assert_eq!(ok.status, 200);
    let refusals = [
        ("POST", format!("{base}/hello"), "net-method", "not granted"),
        (
            "GET",
            format!("{base}/echo"),
            "net-path",
            "outside the prefixes",
        ),
        (
            "GET",
            format!("{base}/hello/../echo"),
            "net-path",
            "dot segment",
        ),
        (
            "GET",
            format!("{base}/hello/%2e%2e/echo"),
            "net-path",
            "encoded",
        ),
        // `/redirect-off` is within the paths; where it leads is not.
        (
            "GET",
            format!("{base}/redirect-off"),
            "net-redirect",
            "loopback",
        ),
    ];
    for (method, url, check, fragment) in &refusals {
        let err = exec
            .http_request(&grant, &cluster.agent_key, method, url, &[], b"")
            .await
            .unwrap_err();
        let text = message(&err);
        assert!(
            text.starts_with(&format!("{check}: ")) && text.contains(fragment),
            "{method} {url}: {text}"
        );
    }
    let seen = server.seen();
    assert_eq!(
        seen.len(),
        2,
        "only the allowed requests were sent: {seen:?}"
    );
    assert!(other.seen().is_empty());
    let records = records(&cluster).await;
    for check in ["net-method", "net-path"] {
        assert!(
            records.iter().any(|r| r.kind == RecordKind::Refusal
                && r.reasons.first().map(String::as_str) == Some(check)),
            "{check} not recorded"
        );
    }
}
