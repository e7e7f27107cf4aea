//! Bounded admission under attack: appended blocks built to explode Datalog are refused before
//! any of it is evaluated (at the holder proof without a valid proof, by a static cap with
//! one), an evaluation over its budget is refused, every refusal is recorded, and a legitimate
//! client keeps being served while the attacks run in parallel. The same blocks sent to the
//! authority's DeriveGrant are refused without evaluation.

use std::collections::HashMap;

use biscuit_auth::Biscuit;
use ed25519_dalek::SigningKey;
use trust_sdk::client::{now_ms, prepare_execute, root_key_provider};
use trust_sdk::derive::{derive, Derivation};
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord};
use trust_sdk::SdkError;
use trust_tests::datalog_attacks::attacks;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

fn rpc(err: &SdkError) -> (String, String) {
    match err {
        SdkError::Rpc { code, message } => (code.clone(), message.clone()),
        other => panic!("not an rpc error: {other}"),
    }
}

async fn root_grant(cluster: &Cluster) -> Biscuit {
    let answer = cluster
        .grant("bounded", &[("fs.read", ""), ("fs.list", "")])
        .await
        .unwrap();
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    Biscuit::from(answer.grant.as_ref().unwrap(), root_key_provider(&keys)).unwrap()
}

/// Every provenance record so far, by request id.
async fn records(cluster: &Cluster) -> HashMap<String, ProvenanceRecord> {
    let mut exec = cluster.executor_client().await.unwrap();
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    lines
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) => Some((r.request_id.clone(), r)),
                _ => None,
            },
        )
        .collect()
}

/// One attack request: what it must be refused with.
struct Expected {
    request_id: String,
    code: &'static str,
    check: &'static str,
    /// Text the refusal message must contain (the cap's name).
    names: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explosive_blocks_are_refused_before_evaluation_while_a_legitimate_client_is_served() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let token = root_grant(&cluster).await;
    let legit = token.to_vec().unwrap();
    let stranger = trust_sdk::keys::generate();
    let mut requests = Vec::new();
    for attack in attacks().unwrap() {
        let bytes = token.append(attack.block).unwrap().to_vec().unwrap();
        for round in 0..3 {
            // Signed by a stranger's key: refused at the holder binding, before any Datalog.
            let request = prepare_execute(&bytes, &stranger, read("README.md"), now_ms());
            let request_id = trust_sdk::invocation::decode(&request.invocation).request_id;
            requests.push((
                request,
                Expected {
                    request_id,
                    code: "Unauthenticated",
                    check: "holder-binding",
                    names: "current holder",
                },
                format!("{} without a valid proof, round {round}", attack.name),
            ));
            // Proved by the real holder: refused by the cap, still before any Datalog.
            let request = prepare_execute(&bytes, &cluster.agent_key, read("README.md"), now_ms());
            let request_id = trust_sdk::invocation::decode(&request.invocation).request_id;
            requests.push((
                request,
                Expected {
                    request_id,
                    code: "InvalidArgument",
                    check: "datalog-caps",
                    names: attack.cap,
                },
                format!("{} with a valid proof, round {round}", attack.name),
            ));
        }
    }
    // Every attack request at once, each on its own connection, while the legitimate client
    // reads in a loop.
    let mut attackers = Vec::new();
    let mut expected = Vec::new();
    for (request, want, name) in requests {
        let endpoint = cluster.executor_endpoint();
        let transport = cluster.transport();
        expected.push((want, name.clone()));
        attackers.push(tokio::spawn(async move {
            let mut exec = trust_sdk::client::ExecutorClient::connect(endpoint, &transport)
                .await
                .unwrap();
            (name, exec.send(request).await)
        }));
    }
    let mut exec = cluster.executor_client().await.unwrap();
    for i in 0..20 {
        let answer = exec
            .execute(&legit, &cluster.agent_key, read("README.md"))
            .await
            .unwrap_or_else(|e| panic!("legitimate read {i} during the attack: {e}"));
        assert!(!answer.request_id.is_empty());
    }
    let mut outcomes = HashMap::new();
    for attacker in attackers {
        let (name, result) = attacker.await.unwrap();
        outcomes.insert(name, result);
    }
    let recorded = records(&cluster).await;
    for (want, name) in &expected {
        let err = match &outcomes[name] {
            Ok(_) => panic!("{name}: was admitted"),
            Err(e) => e,
        };
        let (code, message) = rpc(err);
        assert_eq!(code, want.code, "{name}: {message}");
        assert!(
            message.starts_with(&format!("{}: ", want.check)),
            "{name}: refused by another check: {message}"
        );
        assert!(message.contains(want.names), "{name}: {message}");
        let record = recorded
            .get(&want.request_id)
            .unwrap_or_else(|| panic!("{name}: no provenance record"));
        assert_eq!(record.decision, "refuse", "{name}");
        assert_eq!(record.reasons[0], want.check, "{name}");
        assert_eq!(record.status.as_deref(), Some(want.code), "{name}");
    }
    // And after the attack, the legitimate client is still served.
    exec.execute(&legit, &cluster.agent_key, list(""))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_over_its_budget_is_refused_and_recorded() {
    // Caps lifted so that the join reaches evaluation: only the wall-clock budget stops it.
    let cluster = Cluster::start(ClusterOptions {
        executor_extra: "[admission]\nmax_rule_work = 1000000000000\nmax_token_work = 1000000000000\ndatalog_budget_ms = 100\n".into(),
        ..Default::default()
    })
    .unwrap();
    let token = root_grant(&cluster).await;
    let legit = token.to_vec().unwrap();
    let facts: String = (0..40).map(|i| format!("f({i});\n")).collect();
    let join = biscuit_auth::BlockBuilder::new()
        .code(format!(
            "{facts}check if f($a), f($b), f($c), f($d), $a + $b + $c + $d < 0;\n"
        ))
        .unwrap();
    let bytes = token.append(join).unwrap().to_vec().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let request = prepare_execute(&bytes, &cluster.agent_key, read("README.md"), now_ms());
    let request_id = trust_sdk::invocation::decode(&request.invocation).request_id;
    let (code, message) = rpc(&exec.send(request).await.unwrap_err());
    assert_eq!(code, "PermissionDenied", "{message}");
    assert!(message.starts_with("datalog-budget: "), "{message}");
    let record = records(&cluster).await.remove(&request_id).unwrap();
    assert_eq!(record.reasons[0], "datalog-budget");
    // The runaway evaluation holds one Datalog worker, not the executor.
    exec.execute(&legit, &cluster.agent_key, read("README.md"))
        .await
        .unwrap();
}

fn child_derivation() -> Derivation {
    Derivation {
        narrowing: trust_sdk::attenuate::Attenuation {
            operations: Some(["fs.read".to_string()].into_iter().collect()),
            ..Default::default()
        },
        purpose: "bounded subtask".into(),
        derived_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derive_grant_refuses_explosive_blocks_without_evaluating_them() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let token = root_grant(&cluster).await;
    let child: SigningKey = trust_sdk::keys::generate();
    let derived = derive(
        &token,
        &cluster.agent_key,
        &child.verifying_key(),
        &child_derivation(),
    )
    .unwrap();
    let mut authority = cluster.authority_client().await.unwrap();
    let stranger = trust_sdk::keys::generate();
    for attack in attacks().unwrap() {
        let bytes = derived
            .token
            .append(attack.block)
            .unwrap()
            .to_vec()
            .unwrap();
        // Signed by a stranger's key: refused before the grant is looked at.
        let err = authority
            .register_derived(&cluster.agent_id, &stranger, &bytes)
            .await
            .unwrap_err();
        assert_eq!(rpc(&err).0, "Unauthenticated", "{}: {err}", attack.name);
        // Signed by the agent: refused by the cap.
        let err = authority
            .register_derived(&cluster.agent_id, &cluster.agent_key, &bytes)
            .await
            .unwrap_err();
        let (code, message) = rpc(&err);
        assert_eq!(code, "InvalidArgument", "{}: {message}", attack.name);
        assert!(
            message.contains("Datalog cap") && message.contains(attack.cap),
            "{}: {message}",
            attack.name
        );
    }
    // The derived grant itself registers, and its holder is served.
    let bytes = derived.token.to_vec().unwrap();
    let registered = authority
        .register_derived(&cluster.agent_id, &cluster.agent_key, &bytes)
        .await
        .unwrap();
    assert_eq!(registered.registered_grant_ids, vec![derived.derived_id]);
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&bytes, &child, read("README.md"))
        .await
        .unwrap();
}
