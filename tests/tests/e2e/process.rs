//! Process instances over real servers (issue 16): a three-step invoice process with an
//! approval point. Each step's grant reaches only that step's scopes (refused at the
//! executor otherwise), segregation of duties holds, steps complete only in order, the
//! instance survives a `kill -9` of the authority at the right step, and
//! `trustctl audit query --process` shows the chain. Plus the attacks on the new RPCs.

use std::path::PathBuf;
use std::process::Command;

use biscuit_auth::{Biscuit, BlockBuilder};
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::{root_key_provider, AuthorityClient, GrantAnswer, GrantSpec};
use trust_sdk::derive::{delegation_block, derive, Derivation};
use trust_sdk::signed;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// `prepare` (coder-1 writes the invoice), `approve` (an approval point: anyone but the
/// preparer reads it and approves), `release` (writes the payment; not by the approver), and
/// an exception step `rework` that `approve` may send the instance to.
const PROFILE: &str = r#"
[profile]
name = "finance"
workspace = "demo"
users = ["alice"]
agents = ["coder-1", "intruder"]

[[deny]]
id = "no-secrets"
operations = ["fs.read", "fs.write"]
resources = ["invoices/secret/**"]

[[process]]
name = "invoice-payment"
description = "Prepare, approve and release one invoice's payment."
started_by = ["coder-1"]
roles = { clerk = ["coder-1"], approvers = ["coder-1", "intruder", "approver:carol"] }
distinct = [["prepare", "approve"], ["approve", "release"]]

[[process.steps]]
name = "prepare"
roles = ["clerk"]
operations = ["fs.write"]
resources = ["invoices/**"]
cannot_reach_tools = ["payments.*"]
exceptions = {}

[[process.steps]]
name = "approve"
approval = true
roles = ["approvers"]
operations = ["fs.read"]
resources = ["invoices/**"]
exceptions = { rejected = "rework" }

[[process.steps]]
name = "release"
agents = ["coder-1", "intruder"]
operations = ["fs.write"]
resources = ["payments/**"]

[[process.steps]]
name = "rework"
exception = true
next = "approve"
roles = ["clerk"]
operations = ["fs.write"]
resources = ["invoices/**"]
"#;

fn cluster() -> Cluster {
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(PROFILE.into()),
        ..Default::default()
    })
    .unwrap();
    for dir in ["invoices", "payments"] {
        std::fs::create_dir_all(cluster.workspace.join(dir)).unwrap();
    }
    cluster
}

fn spec(scopes: &[(&str, &str)]) -> GrantSpec {
    GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "pay-invoice".into(),
        purpose: "invoice payment".into(),
        scopes: scopes
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// The two agents: (id, key).
fn agents(cluster: &Cluster) -> [(&str, &ed25519_dalek::SigningKey); 2] {
    [
        ("coder-1", &cluster.agent_key),
        ("intruder", &cluster.other_agent_key),
    ]
}

async fn step_grant(
    cluster: &Cluster,
    agent: usize,
    instance: &str,
    step: &str,
    scopes: &[(&str, &str)],
) -> GrantAnswer {
    let (id, key) = agents(cluster)[agent];
    let mut client = cluster.authority_client().await.unwrap();
    client
        .request_step_grant(id, key, &spec(scopes), instance, step)
        .await
        .unwrap()
}

async fn start(cluster: &Cluster, business_key: &str) -> apb::ProcessInstance {
    let mut client = cluster.authority_client().await.unwrap();
    client
        .start_process(
            &cluster.agent_id,
            &cluster.agent_key,
            apb::StartProcessBody {
                workspace: "demo".into(),
                process: "invoice-payment".into(),
                business_key: business_key.into(),
                reason: format!("invoice {business_key} received"),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

fn completion(instance: &str, step: &str) -> apb::CompleteStepBody {
    apb::CompleteStepBody {
        instance_id: instance.into(),
        step: step.into(),
        note: format!("{step} done"),
        ..Default::default()
    }
}

async fn complete(
    cluster: &Cluster,
    agent: usize,
    instance: &str,
    step: &str,
) -> Result<apb::ProcessInstance, trust_sdk::SdkError> {
    let (id, key) = agents(cluster)[agent];
    let mut client = cluster.authority_client().await.unwrap();
    client
        .complete_step(id, key, completion(instance, step))
        .await
}

async fn show(client: &mut AuthorityClient, cluster: &Cluster, id: &str) -> apb::ProcessInstance {
    client
        .get_process_instance(&cluster.admin_id, &cluster.admin_key, id)
        .await
        .unwrap()
}

fn grant_of(answer: &GrantAnswer) -> Vec<u8> {
    assert_eq!(answer.effect, Effect::Allow, "{}", answer.reason);
    answer.grant.clone().unwrap()
}

fn refused_by(answer: &GrantAnswer, rule: &str) {
    assert_eq!(answer.effect, Effect::Deny, "{}", answer.reason);
    assert_eq!(answer.rule_ids, vec![rule.to_string()], "{}", answer.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_process_grants_only_the_current_step_and_survives_kill_9() {
    let mut cluster = cluster();
    let a = start(&cluster, "INV-1").await;
    assert_eq!(
        (a.status.as_str(), a.current_step.as_str()),
        ("active", "prepare")
    );
    let mut exec = cluster.executor_client().await.unwrap();

    // Outside an instance a step's scopes grant nothing.
    let plain = cluster
        .grant("pay-invoice", &[("fs.write", "invoices/")])
        .await
        .unwrap();
    refused_by(&plain, "default-deny");

    // prepare: coder-1 writes the invoice; its grant reaches nothing of the next steps.
    let prepare = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "",
        &[("fs.write", "invoices/")],
    )
    .await;
    let prepare_grant = grant_of(&prepare);
    exec.execute(
        &prepare_grant,
        &cluster.agent_key,
        write("invoices/INV-1.json", b"{\"amount\": 120}"),
    )
    .await
    .unwrap();
    for op in [
        read("invoices/INV-1.json"),
        write("payments/INV-1.json", b"paid"),
    ] {
        let err = exec
            .execute(&prepare_grant, &cluster.agent_key, op)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "{err}");
    }
    assert!(!cluster.workspace.join("payments/INV-1.json").exists());
    // A step grant never covers more than the step, nor reaches a tool it is barred from.
    let wide = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "prepare",
        &[("fs.write", "payments/")],
    )
    .await;
    refused_by(&wide, "process-step-scope");
    let tool = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "prepare",
        &[("tool.invoke", "payments.release")],
    )
    .await;
    refused_by(&tool, "process-unreachable-tool");
    // Nor is any other step granted, or completed, out of order.
    let early = step_grant(
        &cluster,
        1,
        &a.instance_id,
        "approve",
        &[("fs.read", "invoices/")],
    )
    .await;
    refused_by(&early, "process-out-of-order");
    let err = complete(&cluster, 1, &a.instance_id, "approve")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "FailedPrecondition", "{err}");
    assert!(err.to_string().contains("current: `prepare`"), "{err}");

    // A sub-agent's grant derived from the prepare grant works while the step is current.
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    let sub_agent = trust_sdk::keys::generate();
    let derived = derive(
        &Biscuit::from(&prepare_grant, root_key_provider(&keys)).unwrap(),
        &cluster.agent_key,
        &sub_agent.verifying_key(),
        &Derivation {
            narrowing: Attenuation {
                prefixes: Some(vec!["invoices/".into()]),
                ..Default::default()
            },
            purpose: "sub-agent drafts the invoice".into(),
            derived_id: None,
        },
    )
    .unwrap()
    .token
    .to_vec()
    .unwrap();
    let probe = || write("invoices/INV-1.probe", b"probe");
    exec.execute(&derived, &sub_agent, probe()).await.unwrap();

    let after = complete(&cluster, 0, &a.instance_id, "prepare")
        .await
        .unwrap();
    assert_eq!(after.current_step, "approve");
    assert_eq!(after.history[0].grants[0].grant_id, prepare.grant_id);
    // Completing the step revoked its grant, and what was derived from it, at the running
    // executor (within the feed's delay).
    let took = until_revoked(&mut exec, &prepare_grant, &cluster.agent_key, &probe).await;
    until_revoked(&mut exec, &derived, &sub_agent, &probe).await;
    println!(
        "the completed step's grant was refused {} ms after the completion",
        took.as_millis()
    );
    let mut admin = cluster.authority_client().await.unwrap();
    let revoked = admin
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody {
                grant_id: prepare.grant_id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.effect == "revoked")
        .expect("a revocation entry names the prepare grant");
    assert!(
        revoked.reason.contains(&format!(
            "grants of step `prepare` of process instance `{}` (step completed)",
            a.instance_id
        )),
        "{}",
        revoked.reason
    );
    assert_eq!(revoked.actor, "coder-1");

    // approve: the preparer may not approve (by grant or by completing it).
    let own = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "approve",
        &[("fs.read", "invoices/")],
    )
    .await;
    refused_by(&own, "process-segregation-of-duties");
    let err = complete(&cluster, 0, &a.instance_id, "approve")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");

    // kill -9 of the authority: the instance resumes at `approve`, history intact.
    cluster.authority.kill9();
    cluster.authority.restart(None).unwrap();
    let mut admin = cluster.authority_client().await.unwrap();
    let resumed = show(&mut admin, &cluster, &a.instance_id).await;
    assert_eq!(resumed.current_step, "approve");
    assert_eq!(resumed.history.len(), 1);
    assert_eq!(resumed.history[0].performed_by, "coder-1");

    let approve = step_grant(
        &cluster,
        1,
        &a.instance_id,
        "approve",
        &[("fs.read", "invoices/")],
    )
    .await;
    let approve_grant = grant_of(&approve);
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(
        &approve_grant,
        &cluster.other_agent_key,
        read("invoices/INV-1.json"),
    )
    .await
    .unwrap();
    let err = exec
        .execute(
            &approve_grant,
            &cluster.other_agent_key,
            write("payments/INV-1.json", b"paid"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    complete(&cluster, 1, &a.instance_id, "approve")
        .await
        .unwrap();

    // release: not by the approver; by coder-1.
    let by_approver = step_grant(
        &cluster,
        1,
        &a.instance_id,
        "release",
        &[("fs.write", "payments/")],
    )
    .await;
    refused_by(&by_approver, "process-segregation-of-duties");
    let release = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "release",
        &[("fs.write", "payments/")],
    )
    .await;
    exec.execute(
        &grant_of(&release),
        &cluster.agent_key,
        write("payments/INV-1.json", b"paid"),
    )
    .await
    .unwrap();
    let done = complete(&cluster, 0, &a.instance_id, "release")
        .await
        .unwrap();
    assert_eq!(
        (done.status.as_str(), done.current_step.as_str()),
        ("completed", "")
    );
    let err = complete(&cluster, 0, &a.instance_id, "release")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "FailedPrecondition", "{err}");
    let performers: Vec<(&str, &str)> = done
        .history
        .iter()
        .map(|r| (r.step.as_str(), r.performed_by.as_str()))
        .collect();
    assert_eq!(
        performers,
        vec![
            ("prepare", "coder-1"),
            ("approve", "intruder"),
            ("release", "coder-1")
        ]
    );

    // One instance per business key.
    let mut client = cluster.authority_client().await.unwrap();
    let err = client
        .start_process(
            &cluster.agent_id,
            &cluster.agent_key,
            apb::StartProcessBody {
                workspace: "demo".into(),
                process: "invoice-payment".into(),
                business_key: "INV-1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExists", "{err}");

    // The chain of the instance, joined by `trustctl audit query --process`.
    let chain = audit_chain(&cluster, &a.instance_id);
    assert_eq!(chain[0]["process"]["business_key"], "INV-1");
    assert_eq!(chain[0]["process"]["started_by"], "coder-1");
    let steps: Vec<&serde_json::Value> = chain[1..].iter().map(|l| &l["step"]).collect();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["prepare", "approve", "release"]);
    assert_eq!(steps[0]["rule_id"], "process:invoice-payment/prepare");
    assert_eq!(steps[1]["performed_by"], "intruder");
    assert_eq!(steps[0]["grants"][0]["grant_id"], prepare.grant_id.as_str());
    let ops = |i: usize| -> Vec<(String, String)> {
        steps[i]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["operation"].as_str().unwrap().to_string(),
                    o["decision"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(
        ops(0).contains(&("fs.write".into(), "allow".into())),
        "{:?}",
        ops(0)
    );
    assert!(
        ops(0).contains(&("fs.read".into(), "refuse".into())),
        "{:?}",
        ops(0)
    );
    assert!(
        ops(1).contains(&("fs.read".into(), "allow".into())),
        "{:?}",
        ops(1)
    );
    assert!(
        ops(2).contains(&("fs.write".into(), "allow".into())),
        "{:?}",
        ops(2)
    );
    assert_eq!(steps[2]["operations"][0]["agent"], "coder-1");
}

/// Waits (at most 10 s, polling) until `grant` is refused for revocation; returns how long
/// that took.
async fn until_revoked(
    exec: &mut trust_sdk::client::ExecutorClient,
    grant: &[u8],
    holder: &ed25519_dalek::SigningKey,
    op: &dyn Fn() -> trust_proto::executor::v1::invocation::Operation,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        match exec.execute(grant, holder, op()).await {
            Err(e) => {
                assert_eq!(code(&e), "Unauthenticated", "{e}");
                assert!(e.to_string().contains("is revoked"), "{e}");
                return started.elapsed();
            }
            Ok(_) => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "still admitted 10 s after the step completed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

/// Runs `trustctl audit query --process INSTANCE` and parses its JSON lines.
fn audit_chain(cluster: &Cluster, instance: &str) -> Vec<serde_json::Value> {
    let bin: PathBuf = trust_tests::binaries::binary("trustctl", "trustctl").unwrap();
    let auditor_key = cluster.path("auditor.key");
    let admin_key = cluster.path("admin.key");
    trust_sdk::keys::save(&cluster.auditor_key, &auditor_key).unwrap();
    trust_sdk::keys::save(&cluster.admin_key, &admin_key).unwrap();
    let ca = cluster.ca_file().unwrap();
    let output = Command::new(bin)
        .args(["audit", "query", "--executor", &cluster.executor_endpoint()])
        .args(["--auditor", &cluster.auditor_id, "--key"])
        .arg(&auditor_key)
        .arg("--ca")
        .arg(&ca)
        .args([
            "--process",
            instance,
            "--authority",
            &cluster.authority_endpoint(),
        ])
        .args(["--signer", &cluster.admin_id, "--signer-key"])
        .arg(&admin_key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_process_instances_change_nothing() {
    let cluster = cluster();
    let a = start(&cluster, "INV-A").await;
    let b = start(&cluster, "INV-B").await;
    let mut client = cluster.authority_client().await.unwrap();

    // Unsigned, forged (another key under coder-1's id) and replayed requests.
    let body = completion(&a.instance_id, "prepare");
    let mut unsigned = signed::sign("CompleteStep", &body, "coder-1", &cluster.agent_key);
    unsigned.signature.clear();
    let err = client.send_complete_step(unsigned).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let mut stamped = body.clone();
    stamped.freshness = Some(signed::freshness(trust_sdk::clock::now_ms()));
    let forged = signed::sign(
        "CompleteStep",
        &stamped,
        "coder-1",
        &cluster.other_agent_key,
    );
    let err = client.send_complete_step(forged).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let start_body = apb::StartProcessBody {
        freshness: Some(signed::freshness(trust_sdk::clock::now_ms())),
        workspace: "demo".into(),
        process: "invoice-payment".into(),
        business_key: "INV-C".into(),
        ..Default::default()
    };
    let forged_start = signed::sign(
        "StartProcess",
        &start_body,
        "coder-1",
        &cluster.other_agent_key,
    );
    let err = client.send_start_process(forged_start).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    // A principal the process does not let start it.
    let mut not_starter = start_body.clone();
    not_starter.freshness = Some(signed::freshness(trust_sdk::clock::now_ms()));
    let by_intruder = signed::sign(
        "StartProcess",
        &not_starter,
        "intruder",
        &cluster.other_agent_key,
    );
    let err = client.send_start_process(by_intruder).await.unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("process-not-starter"), "{err}");
    // Replay of a genuine completion: the second copy is refused and changes nothing.
    let genuine = signed::sign("CompleteStep", &stamped, "coder-1", &cluster.agent_key);
    client.send_complete_step(genuine.clone()).await.unwrap();
    let err = client.send_complete_step(genuine).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let a_now = show(&mut client, &cluster, &a.instance_id).await;
    assert_eq!(
        (a_now.current_step.as_str(), a_now.history.len()),
        ("approve", 1)
    );
    let b_now = show(&mut client, &cluster, &b.instance_id).await;
    assert_eq!(
        (b_now.current_step.as_str(), b_now.history.len()),
        ("prepare", 0)
    );
    // A stranger to the process learns nothing of the instance (approvers and admins may read).
    let (dave, dave_key) = cluster.approver("dave");
    let seen = client
        .get_process_instance(&dave, dave_key, &a.instance_id)
        .await
        .unwrap();
    assert_eq!(seen.instance_id, a.instance_id);

    // A grant for instance B's step, re-labelled as A's by an appended block: the executor
    // attributes it to B (authority block only), and A's provenance holds none of it.
    let b_prepare = step_grant(
        &cluster,
        0,
        &b.instance_id,
        "prepare",
        &[("fs.write", "invoices/")],
    )
    .await;
    let keys = client.public_keys().await.unwrap();
    let token = Biscuit::from(grant_of(&b_prepare), root_key_provider(&keys)).unwrap();
    let relabelled = token
        .append(
            BlockBuilder::new()
                .code(format!(
                    "process_instance(\"{}\", \"approve\");",
                    a.instance_id
                ))
                .unwrap(),
        )
        .unwrap()
        .to_vec()
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(
        &relabelled,
        &cluster.agent_key,
        write("invoices/INV-B.json", b"{}"),
    )
    .await
    .unwrap();
    let mut auditor = cluster.executor_client().await.unwrap();
    let of = |instance: &str| trust_proto::executor::v1::QueryProvenanceBody {
        process_instance: instance.into(),
        ..Default::default()
    };
    let a_records = auditor
        .query_provenance(
            &cluster.auditor_id,
            &cluster.auditor_key,
            of(&a.instance_id),
        )
        .await
        .unwrap();
    assert!(a_records.is_empty(), "{a_records:?}");
    let b_records = auditor
        .query_provenance(
            &cluster.auditor_id,
            &cluster.auditor_key,
            of(&b.instance_id),
        )
        .await
        .unwrap();
    assert_eq!(b_records.len(), 2, "{b_records:?}");
    assert!(
        b_records
            .iter()
            .all(|l| l.contains("\"process_step\":\"prepare\"")),
        "{b_records:?}"
    );
    // B's step grant asked for A's current step: refused (the grant names A's step only if
    // A's instance is named, and then only to a principal the step allows).
    let cross = step_grant(
        &cluster,
        0,
        &a.instance_id,
        "prepare",
        &[("fs.write", "invoices/")],
    )
    .await;
    refused_by(&cross, "process-out-of-order");

    // A derived grant may not widen beyond the step: the SDK refuses, and a forced
    // delegation block that claims more is refused at the executor.
    let child = trust_sdk::keys::generate();
    let wider = Derivation {
        narrowing: Attenuation {
            operations: Some(vec!["fs.write".into()]),
            prefixes: Some(vec!["payments/".into()]),
            ..Default::default()
        },
        purpose: "sub-agent".into(),
        derived_id: None,
    };
    let err = derive(&token, &cluster.agent_key, &child.verifying_key(), &wider).unwrap_err();
    assert!(matches!(err, trust_sdk::SdkError::Widening(_)), "{err}");
    let forced_block = delegation_block(
        &cluster.agent_key.verifying_key(),
        &child.verifying_key(),
        "forced-1",
        &b_prepare.grant_id,
        &wider,
    )
    .unwrap();
    let request = token.third_party_request().unwrap();
    let signed_block = request
        .create_block(
            &trust_sdk::keys::to_biscuit_private(&cluster.agent_key).unwrap(),
            forced_block,
        )
        .unwrap();
    let forced = token
        .append_third_party(
            trust_sdk::keys::to_biscuit_public(&cluster.agent_key.verifying_key()).unwrap(),
            signed_block,
        )
        .unwrap()
        .to_vec()
        .unwrap();
    let err = exec
        .execute(&forced, &child, write("payments/INV-B.json", b"paid"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(!cluster.workspace.join("payments/INV-B.json").exists());

    // Every refused transition is in the decision log under the instance.
    let decisions = client
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody {
                task: format!("process-instance:{}", a.instance_id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let effects: Vec<&str> = decisions.iter().map(|d| d.effect.as_str()).collect();
    assert!(effects.contains(&"process_started"), "{effects:?}");
    assert!(effects.contains(&"step_completed"), "{effects:?}");
}

/// A claims process whose `gather` step may read the `kb` context source within limits
/// (internal at most, EU, two documents, emails masked); `decide` reads nothing.
const CONTEXT_PROFILE: &str = r#"
[profile]
name = "claims"
workspace = "demo"
users = ["alice"]
agents = ["coder-1", "intruder"]

[[process]]
name = "claim-review"
started_by = ["coder-1"]

[[process.steps]]
name = "gather"
agents = ["coder-1"]

[[process.steps.scopes]]
operations = ["context.retrieve"]
resources = ["kb"]
max_classification = "internal"
jurisdictions = ["EU"]
max_documents = 2
redact = ["mask:email"]

[[process.steps]]
name = "decide"
agents = ["intruder"]
operations = ["fs.write"]
resources = ["decisions/**"]
"#;

const CONTEXT_SOURCES: &str = r#"
[[context_source]]
name = "kb"
kind = "directory"
path = "kb"

[[context_source]]
name = "hr"
kind = "directory"
path = "hr"
"#;

/// `kb`: three permitted documents (one with an email), one confidential, one outside the EU;
/// `hr`: one public document.
fn write_context_sources(root: &std::path::Path) {
    use trust_sdk::vocabulary::context::{day_of, format_day};
    let today = day_of(trust_sdk::clock::now());
    let doc = |id: &str, class: &str, jurisdiction: &str, age: i64, body: &str| {
        format!(
            "---\nid: {id}\ntitle: Claim {id}\nclassification: {class}\nowner: claims\njurisdiction: {jurisdiction}\ndate: {}\n---\n{body}\n",
            format_day(today - age)
        )
    };
    for dir in ["kb", "hr"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (path, text) in [
        (
            "kb/pub.md",
            doc(
                "pub-1",
                "public",
                "EU",
                1,
                "Ask adjuster.one@claims.example.",
            ),
        ),
        (
            "kb/int-a.md",
            doc("int-1", "internal", "EU", 2, "INTERNAL-A"),
        ),
        (
            "kb/int-b.md",
            doc("int-2", "internal", "EU", 3, "INTERNAL-B"),
        ),
        (
            "kb/conf.md",
            doc("conf-1", "confidential", "EU", 1, "CONFIDENTIAL-BODY"),
        ),
        ("kb/us.md", doc("us-1", "public", "US", 1, "US-BODY")),
        ("hr/staff.md", doc("hr-1", "public", "EU", 1, "HR-BODY")),
    ] {
        std::fs::write(root.join(path), text).unwrap();
    }
}

fn context_query(source: &str) -> trust_sdk::client::ContextQuery {
    trust_sdk::client::ContextQuery {
        source: source.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_step_with_a_context_scope_reads_only_within_its_limits() {
    let mut cluster = Cluster::start(ClusterOptions {
        profile: Some(CONTEXT_PROFILE.into()),
        executor_extra: CONTEXT_SOURCES.into(),
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    write_context_sources(cluster.dir.path());
    cluster.start_executor().unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let instance = client
        .start_process(
            &cluster.agent_id,
            &cluster.agent_key,
            apb::StartProcessBody {
                workspace: "demo".into(),
                process: "claim-review".into(),
                business_key: "CLAIM-9".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = instance.instance_id.as_str();

    // Outside the instance the step's scope grants nothing; inside it, only its source.
    let plain = cluster
        .grant("claim", &[("context.retrieve", "kb")])
        .await
        .unwrap();
    refused_by(&plain, "default-deny");
    let other = step_grant(&cluster, 0, id, "gather", &[("context.retrieve", "hr")]).await;
    refused_by(&other, "process-step-scope");
    let gather = step_grant(&cluster, 0, id, "gather", &[("context.retrieve", "kb")]).await;
    let grant = grant_of(&gather);
    let token = biscuit_auth::UnverifiedBiscuit::from(&grant).unwrap();
    let authority_block = token.print_block_source(0).unwrap();
    assert!(
        authority_block.contains("process_instance("),
        "{authority_block}"
    );

    // The executor returns what the step's limits allow, and nothing else.
    let mut exec = cluster.executor_client().await.unwrap();
    let found = exec
        .context_retrieve(&grant, &cluster.agent_key, &context_query("kb"))
        .await
        .unwrap();
    let ids: Vec<&str> = found.documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["pub-1", "int-1"], "{found:?}");
    assert!(found.truncated, "two documents at most: {found:?}");
    let wire = format!("{found:?}");
    for absent in [
        "adjuster.one@claims.example",
        "INTERNAL-B",
        "CONFIDENTIAL-BODY",
        "US-BODY",
    ] {
        assert!(
            !wire.contains(absent),
            "`{absent}` left the executor: {wire}"
        );
    }
    assert!(
        found.documents[0].content.contains("[redacted:email]"),
        "{}",
        found.documents[0].content
    );
    // Asking for more than the step allows is refused or cut down, never widened.
    let mut wider = context_query("kb");
    wider.classifications = vec!["confidential".into()];
    match exec
        .context_retrieve(&grant, &cluster.agent_key, &wider)
        .await
    {
        Ok(more) => assert!(more.documents.is_empty(), "{more:?}"),
        Err(e) => assert_eq!(code(&e), "PermissionDenied", "{e}"),
    }
    let err = exec
        .context_retrieve(&grant, &cluster.agent_key, &context_query("hr"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");

    // The next step's grant reads nothing, and the completed step's grant is revoked.
    complete(&cluster, 0, id, "gather").await.unwrap();
    let decide = step_grant(&cluster, 1, id, "decide", &[("context.retrieve", "kb")]).await;
    refused_by(&decide, "process-step-scope");
    let started = std::time::Instant::now();
    loop {
        match exec
            .context_retrieve(&grant, &cluster.agent_key, &context_query("kb"))
            .await
        {
            Err(e) if code(&e) == "Unauthenticated" => {
                assert!(e.to_string().contains("is revoked"), "{e}");
                break;
            }
            other => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "still answered 10 s after the step completed: {other:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}
