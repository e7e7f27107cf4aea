//! TLS on every link: agent→authority, agent→executor and executor→authority (mutual TLS),
//! and every way around it refused: another CA, another name, no client certificate on the
//! executor-only feed, a plaintext client, and plaintext servers that were not asked for or
//! that would listen off loopback.

use std::time::Duration;

use trust_sdk::certificates::{self, Usage};
use trust_sdk::client::{AuthorityClient, ExecutorClient, Transport};
use trust_tests::binaries::binary;
use trust_tests::process::ServerProcess;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::{code, read};

const DAY: Duration = Duration::from_secs(86_400);

/// The same CA name and server names as the cluster's, but another key: a look-alike CA.
fn other_ca() -> certificates::CertifiedKey {
    certificates::new_authority("a stranger's CA", DAY).unwrap()
}

#[tokio::test]
async fn every_link_is_tls_and_the_executor_authenticates_with_its_client_certificate() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    assert!(cluster.authority_endpoint().starts_with("https://"));
    assert!(cluster.executor_endpoint().starts_with("https://"));
    // Agent → authority over TLS.
    let answer = cluster
        .grant("tls-read", &[("fs.read", "src/")])
        .await
        .unwrap();
    let grant = answer.grant.expect("granted");
    // Agent → executor over TLS; the executor admits only once it has synced keys and the
    // revocation feed, which the authority serves only over its mutual-TLS link.
    let mut executor = cluster.executor_client().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match executor
            .execute(&grant, &cluster.agent_key, read("src/calc.sh"))
            .await
        {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!(
                "the executor never admitted: {e}\n{}",
                cluster.executor.as_ref().unwrap().log()
            ),
        }
    }
    let executor_log = cluster.executor.as_ref().unwrap().log();
    assert!(!executor_log.contains("INSECURE"), "{executor_log}");
    assert!(!executor_log.contains("feed lost"), "{executor_log}");
    assert!(!cluster.authority.log().contains("INSECURE"));
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let stranger = Transport::tls(other_ca().cert_pem);
    let err = AuthorityClient::connect(cluster.authority_endpoint(), &stranger)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let err = ExecutorClient::connect(cluster.executor_endpoint(), &stranger)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    // The authority's certificate names localhost and 127.0.0.1, not this host.
    let elsewhere = cluster.transport().with_domain("authority.example.com");
    let err = AuthorityClient::connect(cluster.authority_endpoint(), &elsewhere)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("certificate not valid for name"),
        "{err}"
    );
    // A certificate from the right CA for another name, served by an impostor, is refused
    // the same way: issue one and point a client at a server presenting it.
    let tls = cluster.tls.as_ref().unwrap();
    let impostor = certificates::issue(
        &tls.ca,
        "impostor",
        &["impostor.example.com".into()],
        Usage {
            server: true,
            client: false,
        },
        DAY,
    )
    .unwrap();
    let dir = cluster.path("impostor");
    certificates::write_files(&impostor, &dir, "impostor").unwrap();
    let text = std::fs::read_to_string(&cluster.authority_config)
        .unwrap()
        .replace("authority.pem", "../impostor/impostor.pem")
        .replace("authority.key", "../impostor/impostor.key")
        .replace("authority-data", "impostor-data");
    let config = cluster.path("impostor.toml");
    std::fs::write(&config, text).unwrap();
    let server = ServerProcess::start(
        &binary("trust-authority", "trust-authority").unwrap(),
        &[
            "serve".into(),
            "--config".into(),
            config.display().to_string(),
        ],
        &cluster.path("impostor.log"),
    )
    .unwrap();
    let err = AuthorityClient::connect(server.endpoint(), &cluster.transport())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("certificate not valid for name"),
        "{err}"
    );
}

#[tokio::test]
async fn the_revocation_feed_is_served_only_to_a_client_certificate_from_the_ca() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    // An agent's TLS connection (no client certificate): both feed RPCs refused.
    let mut agent = cluster.authority_client().await.unwrap();
    let err = agent.list_revocations(0).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
    let err = agent
        .watch_revocations(0, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    // The same connection still serves what agents use.
    assert!(!agent.public_keys().await.unwrap().is_empty());
    // The executor's certificate opens the feed.
    let mut executor = cluster.feed_client().await.unwrap();
    executor.list_revocations(0).await.unwrap();
    // A client certificate from another CA never gets through the handshake.
    let other = other_ca();
    let forged = certificates::issue(
        &other,
        "executor",
        &["localhost".into()],
        Usage {
            server: true,
            client: true,
        },
        DAY,
    )
    .unwrap();
    let forged_transport = cluster
        .transport()
        .with_identity(forged.cert_pem, forged.key_pem);
    let refused =
        match AuthorityClient::connect(cluster.authority_endpoint(), &forged_transport).await {
            // TLS 1.3: the client may finish first; the server's refusal then fails the call.
            Ok(mut client) => client.list_revocations(0).await.unwrap_err(),
            Err(e) => e,
        };
    assert_ne!(
        code(&refused),
        "Unauthenticated",
        "refused in the handshake: {refused}"
    );
}

#[tokio::test]
async fn a_plaintext_client_gets_nothing_from_a_tls_server() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let plain_url = cluster.authority_endpoint().replace("https://", "http://");
    let result = async {
        let mut client =
            AuthorityClient::connect(plain_url.clone(), &Transport::InsecurePlaintext).await?;
        client.public_keys().await
    }
    .await;
    assert!(result.is_err(), "a plaintext client was answered");
    // And a TLS client refuses to send to an http:// endpoint at all.
    let err = AuthorityClient::connect(plain_url, &cluster.transport())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test]
async fn plaintext_works_only_when_asked_for_and_is_logged() {
    let cluster = Cluster::start(ClusterOptions {
        insecure_plaintext: true,
        ..ClusterOptions::default()
    })
    .unwrap();
    assert!(cluster.authority_endpoint().starts_with("http://"));
    let answer = cluster.grant("plain", &[("fs.read", "")]).await.unwrap();
    assert!(answer.grant.is_some());
    assert!(cluster.authority.log().contains("INSECURE PLAINTEXT"));
    assert!(cluster
        .executor
        .as_ref()
        .unwrap()
        .log()
        .contains("INSECURE PLAINTEXT"));
}

#[test]
fn servers_refuse_to_start_plaintext_unless_asked_for_and_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let authority = binary("trust-authority", "trust-authority").unwrap();
    let executor = binary("tool-executor", "tool-executor").unwrap();
    let start = |bin: &std::path::Path, config: &str, extra: &[&str], name: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let mut args = vec![
            "serve".to_string(),
            "--config".into(),
            path.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        match ServerProcess::start(bin, &args, &dir.path().join(format!("{name}.log"))) {
            Ok(_) => panic!("{name}: the server started"),
            Err(e) => e.to_string(),
        }
    };
    // No [tls] and no plaintext switch: refused, saying what to configure.
    let err = start(&authority, "data_dir = \"a\"\n", &[], "authority-none");
    assert!(err.contains("no [tls] section"), "{err}");
    let executor_config = format!(
        "data_dir = \"e\"\nauthority = \"https://127.0.0.1:1\"\nauthority_root_keys = [\"{}\"]\n[[workspaces]]\nname = \"w\"\nroot = \"{}\"\n",
        hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes()),
        dir.path().display()
    );
    let err = start(&executor, &executor_config, &[], "executor-none");
    assert!(err.contains("no [tls] section"), "{err}");
    // Plaintext asked for, but on every interface: refused (in the config and by flag).
    let err = start(
        &authority,
        "listen = \"0.0.0.0:0\"\ndata_dir = \"a\"\ninsecure_plaintext = true\n",
        &[],
        "authority-open-config",
    );
    assert!(err.contains("only on a loopback address"), "{err}");
    let err = start(
        &authority,
        "data_dir = \"a\"\ninsecure_plaintext = true\n",
        &["--listen", "0.0.0.0:0"],
        "authority-open-flag",
    );
    assert!(err.contains("only on a loopback address"), "{err}");
    let err = start(
        &executor,
        &executor_config.replace("https://", "http://"),
        &["--insecure-plaintext", "--listen", "0.0.0.0:0"],
        "executor-open-flag",
    );
    assert!(err.contains("only on a loopback address"), "{err}");
}
