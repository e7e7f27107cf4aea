//! Revocation over real servers: every level (grant, task, agent, user, lineage) reaches an
//! executor that is already running and refuses exactly the affected grants; the feed fails
//! closed when the authority is away, recovers by itself, and resumes from its cursor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use biscuit_auth::Biscuit;
use ed25519_dalek::SigningKey;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::{root_key_provider, ExecutorClient, GrantSpec, RevocationTarget};
use trust_sdk::derive::{derive, Derivation};
use trust_tests::cluster::coding_profile;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// A grant under test: its id, bytes, and the key that proves possession.
#[derive(Clone)]
struct Held {
    name: &'static str,
    grant_id: String,
    grant: Vec<u8>,
    key: SigningKey,
}

impl Held {
    async fn works(&self, exec: &mut ExecutorClient) -> Result<(), trust_sdk::SdkError> {
        exec.execute(&self.grant, &self.key, read("src/calc.sh"))
            .await
            .map(|_| ())
    }
}

/// Two users (alice, bob) and two agents (coder-1, intruder) may act in `demo`.
fn two_principals_profile() -> String {
    coding_profile()
        .unwrap()
        .replace(r#"users = ["alice"]"#, r#"users = ["alice", "bob"]"#)
        .replace(
            r#"agents = ["coder-1"]"#,
            r#"agents = ["coder-1", "intruder"]"#,
        )
}

async fn grant_as(
    cluster: &Cluster,
    agent: &str,
    key: &SigningKey,
    user: &str,
    task: &str,
) -> (String, Vec<u8>) {
    let spec = GrantSpec {
        user: user.into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "revocation test".into(),
        scopes: vec![("fs.read".into(), String::new())],
        ..Default::default()
    };
    let mut authority = cluster.authority_client().await.unwrap();
    let answer = authority.request_grant(agent, key, &spec).await.unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    (answer.grant_id, answer.grant.unwrap())
}

/// Waits until every grant in `revoked` is refused for revocation (returns how long it took);
/// panics if one is still admitted after 10 s.
async fn until_refused(exec: &mut ExecutorClient, revoked: &[&Held]) -> Duration {
    let started = Instant::now();
    for held in revoked {
        loop {
            match held.works(exec).await {
                Err(e) => {
                    assert_eq!(code(&e), "Unauthenticated", "{}: {e}", held.name);
                    assert!(e.to_string().contains("revoked"), "{}: {e}", held.name);
                    break;
                }
                Ok(()) if started.elapsed() > Duration::from_secs(10) => {
                    panic!("{} is still admitted 10 s after its revocation", held.name)
                }
                Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    started.elapsed()
}

async fn all_work(exec: &mut ExecutorClient, grants: &[&Held]) {
    for held in grants {
        held.works(exec)
            .await
            .unwrap_or_else(|e| panic!("{} was refused but not revoked: {e}", held.name));
    }
}

async fn revoke(
    cluster: &Cluster,
    target: RevocationTarget,
    reason: &str,
) -> apb::RevokeGrantResponse {
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .revoke(&cluster.admin_id, &cluster.admin_key, &target, reason)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revocation_level_refuses_exactly_its_grants_at_a_running_executor() {
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(two_principals_profile()),
        // coder-1 (owned by alice) also works for bob, so that revoking by user has two users.
        agent_acts_for: vec!["bob".into()],
        profile_extra: crate::approvals::APPROVAL_RULES.into(),
        ..Default::default()
    })
    .unwrap();
    let coder = (cluster.agent_id.as_str(), &cluster.agent_key);
    let intruder = ("intruder", &cluster.other_agent_key);
    let mut held = Vec::new();
    for (name, (agent, key), user, task) in [
        ("by-grant", coder, "alice", "t-grant"),
        ("by-task-1", coder, "alice", "t-task"),
        ("by-task-2", coder, "alice", "t-task"),
        ("by-agent", intruder, "alice", "t-agent"),
        ("by-user", coder, "bob", "t-user"),
        ("lineage-root", coder, "alice", "t-lineage"),
        ("keep", coder, "alice", "t-keep"),
        ("keep-intruder-task", coder, "alice", "t-agent"),
    ] {
        let (grant_id, grant) = grant_as(&cluster, agent, key, user, task).await;
        held.push(Held {
            name,
            grant_id,
            grant,
            key: key.clone(),
        });
    }
    // A lineage: root → child (sub-agent 1) → grandchild (sub-agent 2), registered.
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    let root = Biscuit::from(&held[5].grant, root_key_provider(&keys)).unwrap();
    let narrowing = Derivation {
        narrowing: Attenuation {
            operations: Some(vec!["fs.read".into()]),
            ..Default::default()
        },
        purpose: "subtask".into(),
        derived_id: None,
    };
    let (k1, k2) = (trust_sdk::keys::generate(), trust_sdk::keys::generate());
    let child = derive(&root, &cluster.agent_key, &k1.verifying_key(), &narrowing).unwrap();
    let grandchild = derive(&child.token, &k1, &k2.verifying_key(), &narrowing).unwrap();
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .register_derived(
            &cluster.agent_id,
            &cluster.agent_key,
            &grandchild.token.to_vec().unwrap(),
        )
        .await
        .unwrap();
    held.push(Held {
        name: "lineage-child",
        grant_id: child.derived_id.clone(),
        grant: child.token.to_vec().unwrap(),
        key: k1,
    });
    held.push(Held {
        name: "lineage-grandchild",
        grant_id: grandchild.derived_id.clone(),
        grant: grandchild.token.to_vec().unwrap(),
        key: k2,
    });
    let by = |name: &str| held.iter().find(|h| h.name == name).unwrap().clone();

    // An approval pending for the agent that will be revoked.
    let op = write("deploy/x.toml", b"x");
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "t-agent".into(),
        scopes: vec![("fs.write".into(), "deploy/x.toml".into())],
        ..Default::default()
    }
    .with_parameters(&op);
    let pending = authority
        .request_grant("intruder", &cluster.other_agent_key, &spec)
        .await
        .unwrap();
    assert!(!pending.approval_id.is_empty(), "{pending:?}");

    let mut exec = cluster.executor_client().await.unwrap();
    let refs: Vec<&Held> = held.iter().collect();
    all_work(&mut exec, &refs).await;

    let mut alive: Vec<Held> = held.clone();
    let mut timings = Vec::new();
    let levels: Vec<(&str, RevocationTarget, Vec<&str>)> = vec![
        (
            "grant",
            RevocationTarget::Grant {
                grant_id: by("by-grant").grant_id,
                include_derived: false,
            },
            vec!["by-grant"],
        ),
        (
            "task",
            RevocationTarget::Task("t-task".into()),
            vec!["by-task-1", "by-task-2"],
        ),
        (
            "agent",
            RevocationTarget::Agent("intruder".into()),
            vec!["by-agent"],
        ),
        (
            "user",
            RevocationTarget::User("bob".into()),
            vec!["by-user"],
        ),
        (
            "lineage",
            RevocationTarget::Grant {
                grant_id: by("lineage-child").grant_id,
                include_derived: true,
            },
            vec!["lineage-child", "lineage-grandchild"],
        ),
    ];
    for (level, target, names) in levels {
        let answer = revoke(&cluster, target, &format!("test: revoke by {level}")).await;
        let mut expected: Vec<String> = names.iter().map(|n| by(n).grant_id).collect();
        let mut got = answer.revoked_grant_ids.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{level}: the registry revoked other grants");
        let revoked: Vec<Held> = names.iter().map(|n| by(n)).collect();
        let took = until_refused(&mut exec, &revoked.iter().collect::<Vec<_>>()).await;
        timings.push((level, took));
        alive.retain(|h| !names.contains(&h.name));
        all_work(&mut exec, &alive.iter().collect::<Vec<_>>()).await;
    }
    eprintln!("revoke-to-refusal at a running executor: {timings:?}");
    assert_eq!(
        alive.iter().map(|h| h.name).collect::<Vec<_>>(),
        vec!["lineage-root", "keep", "keep-intruder-task"]
    );

    // The registry agrees, for the whole lineage below the revoked child.
    for name in ["lineage-child", "lineage-grandchild", "by-grant", "by-user"] {
        let record = authority
            .get_grant(&cluster.admin_id, &cluster.admin_key, &by(name).grant_id)
            .await
            .unwrap();
        assert!(record.revoked, "{name} is not marked revoked");
    }
    let root_record = authority
        .get_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &by("lineage-root").grant_id,
        )
        .await
        .unwrap();
    assert!(!root_record.revoked);

    // Revoking the agent refused its pending approval and stops it until re-enabled.
    let outcome = authority
        .await_approval(
            "intruder",
            &cluster.other_agent_key,
            &pending.approval_id,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome.rule_ids,
        vec!["approval-cancelled".to_string()],
        "{outcome:?}"
    );
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "t-again".into(),
        scopes: vec![("fs.read".into(), String::new())],
        ..Default::default()
    };
    let refused = authority
        .request_grant("intruder", &cluster.other_agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(
        refused.rule_ids,
        vec!["agent-disabled".to_string()],
        "{refused:?}"
    );
    authority
        .set_agent_enabled(
            &cluster.admin_id,
            &cluster.admin_key,
            "intruder",
            true,
            "cleared",
        )
        .await
        .unwrap();
    let again = authority
        .request_grant("intruder", &cluster.other_agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(again.effect, Effect::Allow, "{again:?}");
    exec.execute(
        again.grant.as_ref().unwrap(),
        &cluster.other_agent_key,
        read("src/calc.sh"),
    )
    .await
    .unwrap();

    // Every revocation is in the decision log with its reason, its admin and what it covered.
    let log = authority
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody::default(),
        )
        .await
        .unwrap();
    let revocations: Vec<&apb::DecisionRecord> =
        log.iter().rev().filter(|d| d.effect == "revoked").collect();
    assert_eq!(revocations.len(), 5, "{revocations:?}");
    for (record, level) in revocations
        .iter()
        .zip(["grant", "task", "agent", "user", "lineage"])
    {
        assert_eq!(record.actor, cluster.admin_id);
        assert!(
            record.reason.contains(&format!("test: revoke by {level}")),
            "{}",
            record.reason
        );
        assert!(!record.revoked_grant_ids.is_empty());
    }
    assert_eq!(revocations[1].task, "t-task");
    assert_eq!(revocations[2].agent_id, "intruder");
    assert_eq!(revocations[3].user, "bob");
    assert!(log
        .iter()
        .any(|d| d.effect == "agent_disabled" && d.agent_id == "intruder"));
    assert!(log
        .iter()
        .any(|d| d.effect == "cancelled" && d.approval_id == pending.approval_id));

    // Revocation needs an admin, and exactly one target.
    let err = authority
        .revoke(
            "admin:ops",
            &cluster.agent_key,
            &RevocationTarget::User("alice".into()),
            "no",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let mut both = apb::RevokeGrantBody {
        freshness: Some(trust_sdk::signed::freshness(trust_sdk::client::now_ms())),
        task: "t-keep".into(),
        user: "alice".into(),
        reason: "two targets".into(),
        ..Default::default()
    };
    let request =
        trust_sdk::signed::sign("RevokeGrant", &both, &cluster.admin_id, &cluster.admin_key);
    let channel = cluster
        .transport()
        .connect(&cluster.authority_endpoint())
        .await
        .unwrap();
    let mut raw = trust_proto::authority::v1::authority_client::AuthorityClient::new(channel);
    let err = raw.revoke_grant(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    both.task.clear();
    both.user.clear();
    both.freshness = Some(trust_sdk::signed::freshness(trust_sdk::client::now_ms()));
    let request =
        trust_sdk::signed::sign("RevokeGrant", &both, &cluster.admin_id, &cluster.admin_key);
    assert_eq!(
        raw.revoke_grant(request).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    all_work(&mut exec, &[&by("keep")]).await;
}

/// `trustctl health` for the executor service at `endpoint`: the status line it prints.
fn health(endpoint: &str, ca: &std::path::Path) -> String {
    let bin = trust_tests::binaries::binary("trustctl", "trustctl").unwrap();
    let out = std::process::Command::new(bin)
        .args(["health", "--ca"])
        .arg(ca)
        .args([
            "--endpoint",
            endpoint,
            "--service",
            "trust.executor.v1.Executor",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_authority_stopped_the_executor_serves_to_the_bound_refuses_then_recovers_by_itself(
) {
    let mut cluster = Cluster::start(ClusterOptions {
        revocation_max_staleness_secs: 3,
        ..Default::default()
    })
    .unwrap();
    let keep = cluster
        .grant("outage-keep", &[("fs.read", "")])
        .await
        .unwrap();
    let doomed = cluster
        .grant("outage-doomed", &[("fs.read", "")])
        .await
        .unwrap();
    let keep = Held {
        name: "keep",
        grant_id: keep.grant_id,
        grant: keep.grant.unwrap(),
        key: cluster.agent_key.clone(),
    };
    let doomed = Held {
        name: "doomed",
        grant_id: doomed.grant_id,
        grant: doomed.grant.unwrap(),
        key: cluster.agent_key.clone(),
    };
    let mut exec = cluster.executor_client().await.unwrap();
    all_work(&mut exec, &[&keep, &doomed]).await;
    let executor = cluster.executor_endpoint();
    let ca = cluster.ca_file().unwrap();
    assert_eq!(health(&executor, &ca), "SERVING");

    // The authority goes away: the executor keeps serving on its cached view ...
    let port = cluster.authority.addr.port();
    cluster.authority.kill9();
    let stopped = Instant::now();
    keep.works(&mut exec)
        .await
        .expect("the executor must serve within the staleness bound");
    assert_eq!(health(&executor, &ca), "SERVING");
    // ... until the bound, then refuses everything (fails closed) and says why.
    wait_for(
        "the executor to refuse on a stale revocation view",
        async || keep.works(&mut exec).await.is_err(),
    )
    .await;
    let served_for = stopped.elapsed();
    let err = keep.works(&mut exec).await.unwrap_err();
    assert_eq!(code(&err), "Unavailable", "{err}");
    assert!(err.to_string().contains("revocation"), "{err}");
    assert!(
        served_for >= Duration::from_secs(2),
        "refused after only {served_for:?} (bound 3 s)"
    );
    // Health is re-evaluated twice a second.
    wait_for("health to say NOT_SERVING", async || {
        health(&executor, &ca) == "NOT_SERVING"
    })
    .await;
    let log = cluster.executor.as_ref().unwrap().log();
    assert!(
        log.contains("revocation feed has been silent"),
        "the executor log does not say why:\n{log}"
    );

    // The authority returns on the same port and a revocation is issued at once: the
    // executor reconnects by itself, resumes the feed from its cursor, and applies it.
    let args = vec![
        "serve".to_string(),
        "--config".into(),
        cluster.authority_config.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    cluster.authority.restart(Some(args)).unwrap();
    revoke(
        &cluster,
        RevocationTarget::Grant {
            grant_id: doomed.grant_id.clone(),
            include_derived: false,
        },
        "revoked during the outage",
    )
    .await;
    wait_for("the executor to serve again", async || {
        keep.works(&mut exec).await.is_ok()
    })
    .await;
    until_refused(&mut exec, &[&doomed]).await;
    wait_for("health to say SERVING again", async || {
        health(&executor, &ca) == "SERVING"
    })
    .await;
    let log = cluster.executor.as_ref().unwrap().log();
    assert!(log.contains("revocation feed is back"), "{log}");
}

/// A TCP proxy between the executor and the authority that a test can cut and restore, so
/// that the executor is disconnected while the authority keeps answering everyone else.
struct Link {
    endpoint: String,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Link {
    async fn to(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // TLS passes through untouched: the executor still checks the authority's certificate.
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (o, c) = (Arc::clone(&open), Arc::clone(&connections));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Self {
            endpoint,
            open,
            connections,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_issued_while_the_executor_was_cut_off_are_applied_on_reconnect() {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        revocation_max_staleness_secs: 30,
        ..Default::default()
    })
    .unwrap();
    let link = Link::to(cluster.authority.addr).await;
    cluster.start_executor_via(&link.endpoint).unwrap();
    let mut held = Vec::new();
    for (name, task) in [
        ("a", "cut-a"),
        ("b", "cut-b"),
        ("c", "cut-c"),
        ("keep", "cut-keep"),
    ] {
        let (grant_id, grant) =
            grant_as(&cluster, "coder-1", &cluster.agent_key, "alice", task).await;
        held.push(Held {
            name,
            grant_id,
            grant,
            key: cluster.agent_key.clone(),
        });
    }
    let mut exec = cluster.executor_client().await.unwrap();
    all_work(&mut exec, &held.iter().collect::<Vec<_>>()).await;
    // One revocation through the live feed, so the executor's cursor is not at zero.
    revoke(
        &cluster,
        RevocationTarget::Grant {
            grant_id: held[0].grant_id.clone(),
            include_derived: false,
        },
        "live",
    )
    .await;
    until_refused(&mut exec, &[&held[0]]).await;

    // Cut the executor off; revoke two more while it cannot hear (the authority is up).
    link.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    revoke(
        &cluster,
        RevocationTarget::Task("cut-b".into()),
        "while cut off",
    )
    .await;
    revoke(
        &cluster,
        RevocationTarget::Grant {
            grant_id: held[2].grant_id.clone(),
            include_derived: false,
        },
        "while cut off",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Within the staleness bound it still serves them: it has not heard.
    all_work(&mut exec, &[&held[1], &held[2], &held[3]]).await;

    // Restored: it reconnects by itself and resumes from its cursor; nothing is missed.
    link.restore();
    until_refused(&mut exec, &[&held[1], &held[2]]).await;
    all_work(&mut exec, &[&held[3]]).await;
    let log = cluster.executor.as_ref().unwrap().log();
    assert!(log.contains("resumed_from"), "{log}");

    // And across an executor restart: revoked while it is down, refused when it is back.
    cluster.executor.as_mut().unwrap().kill9();
    revoke(
        &cluster,
        RevocationTarget::User("alice".into()),
        "while the executor was down",
    )
    .await;
    cluster.start_executor_via(&link.endpoint).unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let err = held[3].works(&mut exec).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
}
