//! Egress for a sandboxed child, through the real executor over TLS: a `proc.run` whose grant
//! names `127.0.0.1:<A>` reaches a real HTTP server on A through the executor's egress proxy
//! (plain HTTP and a `CONNECT` tunnel), while a second real server on B is refused by the proxy,
//! a direct connection to A that bypasses the proxy fails, and names do not resolve inside the
//! sandbox. Every connection the proxy saw is in the run's provenance record; server B never
//! sees a connection, server A sees only the proxied ones. The same command under a grant that
//! names no host reaches nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord, RecordKind};
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// A real HTTP/1.1 server on loopback answering `server-<name> <path>`; counts connections.
fn http_server(name: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 2048];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&seen).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("?").to_string();
                let body = format!("server-{name} {path}");
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (port, accepted)
}

/// The coding profile with a `netprobe` command, `net.http` allowed without approval.
fn egress_profile() -> String {
    let profile = trust_tests::cluster::coding_profile().unwrap();
    let approval =
        "[[approval]]\nid = \"network\"\noperations = [\"net.http\"]\nresources = [\"*\"]\n";
    assert!(profile.contains(approval), "the coding profile changed");
    profile.replace(approval, "").replace(
        "test = [\"sh\", \"run-tests.sh\"]",
        "test = [\"sh\", \"run-tests.sh\"]\nnetprobe = [\"sh\", \"netprobe.sh\"]",
    ) + "\n[[allow]]\nid = \"net-probe\"\noperations = [\"proc.run\"]\nresources = [\"netprobe\"]\n\
           \n[[allow]]\nid = \"egress-test\"\noperations = [\"net.http\"]\nresources = [\"*\"]\n"
}

async fn proc_run_records(cluster: &Cluster) -> Vec<ProvenanceRecord> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap()
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) if r.operation == "proc.run" => Some(r),
                _ => None,
            },
        )
        .collect()
}

fn line(out: &str, tag: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(tag))
        .unwrap_or_else(|| panic!("no `{tag}` line in\n{out}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_reaches_its_granted_host_through_the_proxy_and_nothing_else() {
    let (port_a, accepted_a) = http_server("a");
    let (port_b, accepted_b) = http_server("b");
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(egress_profile()),
        ..Default::default()
    })
    .unwrap();
    std::fs::write(
        cluster.workspace.join("netprobe.sh"),
        format!(
            "echo \"ENV:$HTTP_PROXY\"\n\
             echo \"PROXIED_A:$(curl -sS --max-time 10 http://127.0.0.1:{port_a}/plain 2>&1)\"\n\
             echo \"TUNNEL_A:$(curl -sS --max-time 10 --proxytunnel http://127.0.0.1:{port_a}/tunnel 2>&1)\"\n\
             echo \"PROXIED_B:$(curl -sS --max-time 10 -w 'status=%{{http_code}}' http://127.0.0.1:{port_b}/b 2>&1 | tr '\\n' ' ')\"\n\
             echo \"TUNNEL_B:$(curl -sS --max-time 10 --proxytunnel http://127.0.0.1:{port_b}/b 2>&1)\"\n\
             echo \"DIRECT_A:$(curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:{port_a}/direct 2>&1)\"\n\
             echo \"DNS:$(getent hosts example.com >/dev/null 2>&1; echo rc=$?)\"\n"
        ),
    )
    .unwrap();
    let host_a = format!("127.0.0.1:{port_a}");
    let answer = cluster
        .grant(
            "egress",
            &[("proc.run", "netprobe"), ("net.http", host_a.as_str())],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.clone().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let ran = exec
        .execute(&grant, &cluster.agent_key, run("netprobe"))
        .await
        .unwrap();
    let Some(R::Run(ran)) = ran.result else {
        panic!("not a run result")
    };
    let out =
        String::from_utf8_lossy(&ran.stdout).into_owned() + &String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.exit_code, 0, "{out}");
    assert_eq!(line(&out, "ENV:"), "http://127.0.0.1:3128", "{out}");
    // Granted: plain HTTP through the proxy and a CONNECT tunnel reach server A.
    assert_eq!(line(&out, "PROXIED_A:"), "server-a /plain", "{out}");
    assert_eq!(line(&out, "TUNNEL_A:"), "server-a /tunnel", "{out}");
    // Not granted: the proxy refuses (403 for plain HTTP, a failed CONNECT for a tunnel).
    let proxied_b = line(&out, "PROXIED_B:");
    assert!(
        proxied_b
            == format!(
                "egress refused: `127.0.0.1` port {port_b} is not named by the grant status=403"
            ),
        "{out}"
    );
    assert!(!proxied_b.contains("server-b"), "{out}");
    let tunnel_b = line(&out, "TUNNEL_B:");
    assert!(
        tunnel_b.contains("CONNECT tunnel failed, response 403"),
        "{out}"
    );
    // Bypassing the proxy: Landlock allows TCP connect to the bridge's port only.
    let direct = line(&out, "DIRECT_A:");
    assert!(
        direct.contains("Failed to connect to 127.0.0.1 port") && !direct.contains("server-a"),
        "{out}"
    );
    // No resolver inside: the namespace has no route out (getent: 2 = not found).
    assert_eq!(line(&out, "DNS:"), "rc=2", "{out}");
    // What the servers saw: B nothing; A only the two proxied connections.
    assert_eq!(accepted_b.load(Ordering::SeqCst), 0);
    assert_eq!(accepted_a.load(Ordering::SeqCst), 2);

    // The run's intent says what network it gets; its outcome lists every connection the
    // proxy saw.
    let records = proc_run_records(&cluster).await;
    let intent = records
        .iter()
        .find(|r| r.kind == RecordKind::Intent)
        .unwrap_or_else(|| panic!("no intent record in {records:?}"));
    assert!(
        intent
            .reasons
            .contains(&format!("network egress-proxy hosts={host_a}")),
        "{intent:?}"
    );
    let outcome = records
        .iter()
        .find(|r| r.kind == RecordKind::Outcome)
        .unwrap_or_else(|| panic!("no outcome record in {records:?}"));
    let egress: Vec<&String> = outcome
        .reasons
        .iter()
        .filter(|r| r.starts_with("egress "))
        .collect();
    assert_eq!(egress.len(), 4, "{egress:?}");
    let via = format!("{host_a} via {host_a} sent=");
    assert!(
        egress[0].starts_with(&format!("egress allow GET {via}")),
        "{egress:?}"
    );
    assert!(
        egress[1].starts_with(&format!("egress allow CONNECT {via}")),
        "{egress:?}"
    );
    for allowed in &egress[..2] {
        let received: u64 = allowed.rsplit("received=").next().unwrap().parse().unwrap();
        assert!(received > 0, "{allowed}");
    }
    let refused =
        format!("127.0.0.1:{port_b}: `127.0.0.1` port {port_b} is not named by the grant");
    assert_eq!(*egress[2], format!("egress refuse GET {refused}"));
    assert_eq!(*egress[3], format!("egress refuse CONNECT {refused}"));

    // The same command under a grant naming no host: no proxy, no network at all.
    let answer = cluster
        .grant("no-egress", &[("proc.run", "netprobe")])
        .await
        .unwrap();
    let grant = answer.grant.clone().unwrap();
    let ran = exec
        .execute(&grant, &cluster.agent_key, run("netprobe"))
        .await
        .unwrap();
    let Some(R::Run(ran)) = ran.result else {
        panic!("not a run result")
    };
    let out = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert_eq!(line(&out, "ENV:"), "", "{out}");
    for tag in ["PROXIED_A:", "TUNNEL_A:", "PROXIED_B:", "DIRECT_A:"] {
        let l = line(&out, tag);
        assert!(
            !l.contains("server-") && l.contains("Failed to connect"),
            "{tag} {out}"
        );
    }
    assert_eq!(accepted_a.load(Ordering::SeqCst), 2);
    assert_eq!(accepted_b.load(Ordering::SeqCst), 0);
    let records = proc_run_records(&cluster).await;
    let last = records.last().unwrap();
    assert_eq!(last.kind, RecordKind::Outcome);
    assert!(!last.reasons.iter().any(|r| r.starts_with("egress ")));
    assert!(
        last.reasons.contains(&"network none".to_string()),
        "{last:?}"
    );
}
