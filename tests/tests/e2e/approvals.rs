//! Step-up approvals over real servers: pending → decided by a second principal → a grant bound
//! to exactly the approved parameters; separation of duties, the two-person rule, denial and
//! expiry, and the decision log that records all of it.

use std::time::{Duration, Instant};

use biscuit_auth::Biscuit;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::client::{root_key_provider, ApprovalDecision, GrantAnswer, GrantSpec};
use trust_sdk::vocabulary::Approval;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// `fs.write` under `deploy/` needs one approver; under `release/`, two distinct approvers.
pub const APPROVAL_RULES: &str = r#"
[[approval]]
id = "deploy"
description = "Changing deployment files needs a person."
operations = ["fs.write"]
resources = ["deploy/**"]

[[approval]]
id = "release"
description = "Releases need two people."
operations = ["fs.write"]
resources = ["release/**"]
approvals_required = 2
"#;

fn cluster(authority_extra: &str) -> Cluster {
    let cluster = Cluster::start(ClusterOptions {
        profile_extra: APPROVAL_RULES.into(),
        authority_extra: authority_extra.into(),
        ..Default::default()
    })
    .unwrap();
    std::fs::create_dir_all(cluster.workspace.join("deploy")).unwrap();
    std::fs::create_dir_all(cluster.workspace.join("release")).unwrap();
    cluster
}

/// Asks (as coder-1 for alice) to run exactly `op` on `resource`, which needs approval.
async fn ask(cluster: &Cluster, task: &str, resource: &str, op: &Op) -> GrantAnswer {
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "ship it".into(),
        scopes: vec![("fs.write".into(), resource.into())],
        ..Default::default()
    }
    .with_parameters(op);
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .request_grant(&cluster.agent_id, &cluster.agent_key, &spec)
        .await
        .unwrap()
}

async fn await_outcome(cluster: &Cluster, approval_id: &str, wait: Duration) -> GrantAnswer {
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .await_approval(&cluster.agent_id, &cluster.agent_key, approval_id, wait)
        .await
        .unwrap()
}

/// The approval as an approver is shown it (listed by `carol`); an empty one if unknown.
pub async fn shown(cluster: &Cluster, approval_id: &str) -> apb::Approval {
    let (carol, carol_key) = cluster.approver("carol");
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .list_approvals(&carol, carol_key, false)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.approval_id == approval_id)
        .unwrap_or_else(|| apb::Approval {
            approval_id: approval_id.into(),
            ..Default::default()
        })
}

/// `approver` decides `approval_id`, signing the digest and summary it was shown.
pub async fn decide(
    cluster: &Cluster,
    approver: &str,
    approval_id: &str,
    approve: bool,
    comment: &str,
) -> Result<apb::Approval, trust_sdk::SdkError> {
    let view = shown(cluster, approval_id).await;
    let (id, key) = cluster.approver(approver);
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .decide_approval(&id, key, &ApprovalDecision::on(&view, approve, comment))
        .await
}

async fn decisions(cluster: &Cluster, approval_id: &str) -> Vec<apb::DecisionRecord> {
    let mut authority = cluster.authority_client().await.unwrap();
    let filter = apb::ListDecisionsBody {
        approval_id: approval_id.into(),
        ..Default::default()
    };
    let mut log = authority
        .list_decisions(&cluster.admin_id, &cluster.admin_key, filter)
        .await
        .unwrap();
    log.reverse(); // oldest first
    log
}

fn effects(log: &[apb::DecisionRecord]) -> Vec<&str> {
    log.iter().map(|d| d.effect.as_str()).collect()
}

/// Every `approval(...)` fact of the grant's authority block, as (state, approver, digest).
fn approval_facts(token: &Biscuit) -> Vec<(String, String, String)> {
    let mut authorizer = biscuit_auth::AuthorizerBuilder::new()
        .set_limits(biscuit_auth::AuthorizerLimits {
            max_facts: 10_000,
            max_iterations: 100,
            max_time: Duration::from_millis(500),
        })
        .build(token)
        .unwrap();
    let facts: Vec<(String, String, String)> = authorizer
        .query("data($a, $b, $c) <- approval($a, $b, $c)")
        .unwrap();
    facts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_grant_runs_exactly_the_approved_parameters_and_nothing_else() {
    let cluster = cluster("");
    let op = write("deploy/app.toml", b"replicas = 3\n");
    let digest = trust_sdk::parameters::digest(&op);

    // An approver watching sees the request arrive.
    let (carol, carol_key) = cluster.approver("carol");
    let mut watch = cluster
        .authority_client()
        .await
        .unwrap()
        .watch_approvals(&carol, carol_key)
        .await
        .unwrap();

    let asked = ask(&cluster, "deploy-1", "deploy/app.toml", &op).await;
    assert_eq!(asked.effect, Effect::ApprovalRequired, "{asked:?}");
    assert!(asked.grant.is_none());
    assert!(
        asked.rule_ids.contains(&"deploy".to_string()),
        "{:?}",
        asked.rule_ids
    );
    assert!(
        !asked.approval_id.is_empty(),
        "no approval was opened: {asked:?}"
    );

    let seen = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.approval_id, asked.approval_id);
    assert_eq!(seen.status, "pending");
    assert_eq!(seen.parameters_digest, digest);
    assert_eq!(seen.requester_agent, "coder-1");
    assert_eq!(seen.user, "alice");
    assert_eq!(seen.task, "deploy-1");
    assert_eq!(seen.approvals_needed, 1);
    assert!(seen.expires_at_ms > seen.requested_at_ms);
    // What exactly would run: the summary is the redacted parameters, and matches the digest.
    assert!(
        seen.parameters_summary.starts_with("fs.write "),
        "{}",
        seen.parameters_summary
    );
    assert!(seen.parameters_summary.contains("deploy/app.toml"));
    assert!(trust_sdk::parameters::summary_matches(
        &seen.parameters_summary,
        &digest
    ));
    let listed = cluster
        .authority_client()
        .await
        .unwrap()
        .list_approvals(&carol, carol_key, true)
        .await
        .unwrap();
    assert!(listed.iter().any(|a| a.approval_id == asked.approval_id));

    // Still pending: a short wait answers "approval required", without a grant.
    let pending = await_outcome(&cluster, &asked.approval_id, Duration::from_millis(200)).await;
    assert_eq!(pending.effect, Effect::ApprovalRequired, "{pending:?}");
    assert!(pending.grant.is_none());

    // A long poll is answered as soon as carol approves.
    let waiter = {
        let endpoint = cluster.authority_endpoint();
        let transport = cluster.transport();
        let (agent, key, id) = (
            cluster.agent_id.clone(),
            cluster.agent_key.clone(),
            asked.approval_id.clone(),
        );
        tokio::spawn(async move {
            let mut authority = trust_sdk::client::AuthorityClient::connect(endpoint, &transport)
                .await
                .unwrap();
            let started = Instant::now();
            let answer = authority
                .await_approval(&agent, &key, &id, Duration::from_secs(30))
                .await
                .unwrap();
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let decided = decide(&cluster, "carol", &asked.approval_id, true, "looks right")
        .await
        .unwrap();
    assert_eq!(decided.status, "approved");
    assert_eq!(decided.approved_by, vec!["carol".to_string()]);
    assert!(!decided.grant_id.is_empty());
    let (approved, waited) = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(20),
        "the long poll was not woken by the decision ({waited:?})"
    );
    assert_eq!(approved.effect, Effect::Allow, "{approved:?}");
    assert_eq!(approved.grant_id, decided.grant_id);
    let grant = approved
        .grant
        .clone()
        .expect("approved answer carries the grant");

    // The grant names the approver and binds the digest.
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    let token = Biscuit::from(&grant, root_key_provider(&keys)).unwrap();
    let claims = trust_sdk::vocabulary::read_claims(&token).unwrap();
    assert_eq!(
        claims.approval,
        Approval::Approved {
            approver: "carol".into(),
            parameters_digest: digest.clone(),
            max_uses: 1,
        }
    );
    assert!(
        token
            .print_block_source(0)
            .unwrap()
            .contains("param_digest"),
        "no digest check in the grant"
    );

    // Exactly the approved invocation runs ...
    let mut exec = cluster.executor_client().await.unwrap();
    let done = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(cluster.workspace.join("deploy/app.toml")).unwrap(),
        b"replicas = 3\n"
    );
    // ... nothing else does (refused before a use is counted) ...
    for other in [
        write("deploy/app.toml", b"replicas = 300\n"),
        write("deploy/app.toml", b""),
        Op::Write(trust_proto::executor::v1::WriteRequest {
            path: "deploy/app.toml".into(),
            content: b"replicas = 3\n".to_vec(),
            create_only: true,
            ..Default::default()
        }),
    ] {
        let err = exec
            .execute(&grant, &cluster.agent_key, other)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "{err}");
        assert!(err.to_string().contains("approved-parameters"), "{err}");
    }
    let err = exec
        .execute(
            &grant,
            &cluster.agent_key,
            write("deploy/other.toml", b"replicas = 3\n"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert_eq!(
        std::fs::read(cluster.workspace.join("deploy/app.toml")).unwrap(),
        b"replicas = 3\n"
    );
    assert!(!cluster.workspace.join("deploy/other.toml").exists());
    // ... and the approved invocation itself ran once: the grant was good for one use.
    let err = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("approved-uses"), "{err}");

    // Provenance records the same digest the approval bound.
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let outcome = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<trust_sdk::provenance::ProvenanceEntry>(l).ok())
        .find_map(|e| match e {
            trust_sdk::provenance::ProvenanceEntry::Record(r)
                if r.sequence == done.provenance_sequence =>
            {
                Some(r)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(outcome.parameters_digest, digest);

    // The decision log holds the request and the approval, with who and what.
    let log = decisions(&cluster, &asked.approval_id).await;
    assert_eq!(
        effects(&log),
        vec!["approval_required", "approved"],
        "{log:?}"
    );
    assert_eq!(log[0].parameters_digest, digest);
    assert_eq!(log[0].agent_id, "coder-1");
    assert_eq!(log[1].actor, "approver:carol");
    assert_eq!(log[1].grant_id, decided.grant_id);
    assert!(log[1].reason.contains("carol"), "{}", log[1].reason);

    // Deciding again is refused: it is no longer pending.
    let err = decide(&cluster, "dave", &asked.approval_id, true, "me too")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");

    // Without a digest there is nothing exact to approve: no approval is opened.
    let mut authority = cluster.authority_client().await.unwrap();
    let bare = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "deploy-2".into(),
        scopes: vec![("fs.write".into(), "deploy/app.toml".into())],
        ..Default::default()
    };
    let answer = authority
        .request_grant(&cluster.agent_id, &cluster.agent_key, &bare)
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::ApprovalRequired);
    assert!(
        answer.approval_id.is_empty() && answer.grant.is_none(),
        "{answer:?}"
    );
    assert!(
        answer.reason.contains("parameters_digest"),
        "{}",
        answer.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_approves_their_own_request() {
    let cluster = cluster("");
    let op = write("deploy/app.toml", b"replicas = 1\n");
    let asked = ask(&cluster, "deploy-self", "deploy/app.toml", &op).await;
    assert!(!asked.approval_id.is_empty(), "{asked:?}");

    // An approver named like the requesting agent, or like the user it acts for, is refused.
    for name in ["coder-1", "alice"] {
        let err = decide(&cluster, name, &asked.approval_id, true, "mine")
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "{name}: {err}");
        assert!(err.to_string().contains("separation of duties"), "{err}");
    }
    // The agent cannot sign as an approver, nor can an unknown approver decide.
    let view = shown(&cluster, &asked.approval_id).await;
    let decision = ApprovalDecision::on(&view, true, "");
    let mut authority = cluster.authority_client().await.unwrap();
    let err = authority
        .decide_approval("approver:carol", &cluster.agent_key, &decision)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let err = authority
        .decide_approval(&cluster.agent_id, &cluster.agent_key, &decision)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let err = decide(&cluster, "mallory", &asked.approval_id, true, "")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    // An agent cannot collect another agent's approval either.
    let err = authority
        .await_approval(
            "intruder",
            &cluster.other_agent_key,
            &asked.approval_id,
            Duration::ZERO,
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");

    // None of that decided anything.
    let pending = await_outcome(&cluster, &asked.approval_id, Duration::ZERO).await;
    assert_eq!(pending.effect, Effect::ApprovalRequired, "{pending:?}");
    let log = decisions(&cluster, &asked.approval_id).await;
    assert_eq!(
        effects(&log),
        vec!["approval_required", "approval_refused", "approval_refused"],
        "{log:?}"
    );
    assert_eq!(log[1].actor, "approver:coder-1");
    assert_eq!(log[2].actor, "approver:alice");

    // A second principal can.
    decide(&cluster, "carol", &asked.approval_id, true, "")
        .await
        .unwrap();
    let approved = await_outcome(&cluster, &asked.approval_id, Duration::ZERO).await;
    assert_eq!(approved.effect, Effect::Allow, "{approved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_person_rule_needs_two_distinct_approvers() {
    let cluster = cluster("");
    let op = write("release/v2.txt", b"release 2\n");
    let asked = ask(&cluster, "release-2", "release/v2.txt", &op).await;
    assert!(
        asked.rule_ids.contains(&"release".to_string()),
        "{:?}",
        asked.rule_ids
    );

    let first = decide(&cluster, "carol", &asked.approval_id, true, "ok")
        .await
        .unwrap();
    assert_eq!(first.status, "pending");
    assert_eq!(first.approvals_needed, 2);
    assert_eq!(first.approved_by, vec!["carol".to_string()]);
    let answer = await_outcome(&cluster, &asked.approval_id, Duration::from_millis(100)).await;
    assert_eq!(
        answer.effect,
        Effect::ApprovalRequired,
        "one approval is not enough: {answer:?}"
    );
    assert!(answer.grant.is_none());
    // The same person twice is still one person.
    let err = decide(&cluster, "carol", &asked.approval_id, true, "really ok")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("distinct"), "{err}");
    let answer = await_outcome(&cluster, &asked.approval_id, Duration::ZERO).await;
    assert_eq!(answer.effect, Effect::ApprovalRequired);

    let second = decide(&cluster, "dave", &asked.approval_id, true, "agreed")
        .await
        .unwrap();
    assert_eq!(second.status, "approved");
    assert_eq!(
        second.approved_by,
        vec!["carol".to_string(), "dave".to_string()]
    );
    let answer = await_outcome(&cluster, &asked.approval_id, Duration::ZERO).await;
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.unwrap();
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    let mut facts = approval_facts(&Biscuit::from(&grant, root_key_provider(&keys)).unwrap());
    facts.sort();
    let digest = trust_sdk::parameters::digest(&op);
    assert_eq!(
        facts,
        vec![
            ("approved".to_string(), "carol".to_string(), digest.clone()),
            ("approved".to_string(), "dave".to_string(), digest.clone()),
        ]
    );
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, op).await.unwrap();
    assert_eq!(
        std::fs::read(cluster.workspace.join("release/v2.txt")).unwrap(),
        b"release 2\n"
    );

    let log = decisions(&cluster, &asked.approval_id).await;
    assert_eq!(
        effects(&log),
        vec![
            "approval_required",
            "approval_vote",
            "approval_refused",
            "approved"
        ],
        "{log:?}"
    );
    assert_eq!(log[3].actor, "approver:dave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_and_expired_approvals_give_no_grant() {
    let cluster = cluster("approval_ttl_secs = 2");
    let op = write("deploy/app.toml", b"replicas = 9\n");

    // Denied, with a comment the requester gets back.
    let denied = ask(&cluster, "deploy-deny", "deploy/app.toml", &op).await;
    let decided = decide(
        &cluster,
        "carol",
        &denied.approval_id,
        false,
        "not on a Friday",
    )
    .await
    .unwrap();
    assert_eq!(decided.status, "denied");
    let answer = await_outcome(&cluster, &denied.approval_id, Duration::from_secs(5)).await;
    assert_eq!(answer.effect, Effect::Deny, "{answer:?}");
    assert_eq!(answer.rule_ids, vec!["approval-denied".to_string()]);
    assert!(
        answer.reason.contains("not on a Friday"),
        "{}",
        answer.reason
    );
    assert!(answer.grant.is_none() && answer.grant_id.is_empty());
    let err = decide(&cluster, "dave", &denied.approval_id, true, "overrule")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");

    // Expired: nobody decided within the approval TTL; a waiter learns it when it happens.
    let expiring = ask(&cluster, "deploy-expire", "deploy/app.toml", &op).await;
    let started = Instant::now();
    let answer = await_outcome(&cluster, &expiring.approval_id, Duration::from_secs(30)).await;
    assert_eq!(answer.effect, Effect::Deny, "{answer:?}");
    assert_eq!(answer.rule_ids, vec!["approval-expired".to_string()]);
    assert!(answer.grant.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the waiter was not woken at expiry"
    );
    let err = decide(&cluster, "carol", &expiring.approval_id, true, "late")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("expired"), "{err}");

    // Expiry lands in the log even when nobody asks.
    let unattended = ask(&cluster, "deploy-unattended", "deploy/app.toml", &op).await;
    let mut log = Vec::new();
    for _ in 0..100 {
        log = decisions(&cluster, &unattended.approval_id).await;
        if log.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        effects(&log),
        vec!["approval_required", "expired"],
        "{log:?}"
    );

    assert_eq!(
        effects(&decisions(&cluster, &denied.approval_id).await),
        vec!["approval_required", "denied", "approval_refused"]
    );
    let expired_log = decisions(&cluster, &expiring.approval_id).await;
    assert_eq!(
        effects(&expired_log),
        vec!["approval_required", "expired", "approval_refused"],
        "{expired_log:?}"
    );
    // Nothing in the workspace changed.
    assert!(!cluster.workspace.join("deploy/app.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_agent_refuses_its_pending_approvals_and_requests_until_re_enabled() {
    let cluster = cluster("");
    let op = write("deploy/app.toml", b"replicas = 2\n");
    let asked = ask(&cluster, "deploy-disable", "deploy/app.toml", &op).await;
    let mut authority = cluster.authority_client().await.unwrap();
    let off = authority
        .set_agent_enabled(
            &cluster.admin_id,
            &cluster.admin_key,
            "coder-1",
            false,
            "key may be leaked",
        )
        .await
        .unwrap();
    assert_eq!(off.approvals_refused, 1);
    let answer = await_outcome(&cluster, &asked.approval_id, Duration::ZERO).await;
    assert_eq!(
        answer.rule_ids,
        vec!["approval-cancelled".to_string()],
        "{answer:?}"
    );
    let err = decide(&cluster, "carol", &asked.approval_id, true, "")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    let refused = cluster
        .grant("after-disable", &[("fs.read", "")])
        .await
        .unwrap();
    assert_eq!(refused.effect, Effect::Deny, "{refused:?}");
    assert_eq!(refused.rule_ids, vec!["agent-disabled".to_string()]);
    assert!(
        refused.reason.contains("key may be leaked"),
        "{}",
        refused.reason
    );
    // Only an admin may do this.
    let err = authority
        .set_agent_enabled(
            "admin:ops",
            &cluster.agent_key,
            "coder-1",
            true,
            "let me back in",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");

    authority
        .set_agent_enabled(
            &cluster.admin_id,
            &cluster.admin_key,
            "coder-1",
            true,
            "key rotated",
        )
        .await
        .unwrap();
    let answer = cluster
        .grant("after-enable", &[("fs.read", "")])
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");

    let mut authority = cluster.authority_client().await.unwrap();
    let filter = apb::ListDecisionsBody {
        agent_id: "coder-1".into(),
        ..Default::default()
    };
    let log = authority
        .list_decisions(&cluster.admin_id, &cluster.admin_key, filter)
        .await
        .unwrap();
    let all: Vec<&str> = log.iter().rev().map(|d| d.effect.as_str()).collect();
    assert_eq!(
        all,
        vec![
            "approval_required",
            "agent_disabled",
            "cancelled",
            "approval_refused",
            "deny",
            "agent_enabled",
            "allow"
        ],
        "{log:?}"
    );
}

/// Runs `trustctl args...` trusting the cluster's CA (`TRUST_CA`); returns (exit code, stdout,
/// stderr).
fn trustctl(cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
    let bin = trust_tests::binaries::binary("trustctl", "trustctl").unwrap();
    let mut command = std::process::Command::new(bin);
    if let Some(ca) = cluster.ca_file() {
        command.env("TRUST_CA", ca);
    }
    let out = command.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_exactly_what_would_run_and_decide_with_trustctl() {
    let cluster = cluster("");
    let carol_key = cluster.path("carol.key");
    let admin_key = cluster.path("admin.key");
    let agent_key = cluster.path("agent.key");
    trust_sdk::keys::save(cluster.approver("carol").1, &carol_key).unwrap();
    trust_sdk::keys::save(&cluster.admin_key, &admin_key).unwrap();
    trust_sdk::keys::save(&cluster.agent_key, &agent_key).unwrap();
    let (carol_key, admin_key, agent_key) = (
        carol_key.display().to_string(),
        admin_key.display().to_string(),
        agent_key.display().to_string(),
    );
    let authority = cluster.authority_endpoint();
    let op = write("deploy/app.toml", b"replicas = 4\n");
    let digest = trust_sdk::parameters::digest(&op);
    let asked = ask(&cluster, "deploy-cli", "deploy/app.toml", &op).await;

    let (code, out, err) = trustctl(
        &cluster,
        &[
            "approvals",
            "list",
            "--authority",
            &authority,
            "--as",
            "approver:carol",
            "--key",
            &carol_key,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&asked.approval_id), "{out}");
    assert!(out.contains(&format!("digest:         {digest}")), "{out}");
    assert!(
        out.contains(r#"would run:      fs.write {"content_bytes":13"#),
        "{out}"
    );
    assert!(out.contains(r#""path":"deploy/app.toml""#), "{out}");
    assert!(out.contains("summary checks: yes"), "{out}");
    assert!(out.contains("approvals:      0 of 1"), "{out}");
    let (code, out, _) = trustctl(
        &cluster,
        &[
            "approvals",
            "list",
            "--authority",
            &authority,
            "--as",
            "approver:carol",
            "--key",
            &carol_key,
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(listed["summary_matches_digest"], true);

    // Still pending: `approvals await` exits 3.
    let (code, _, _) = trustctl(
        &cluster,
        &[
            "approvals",
            "await",
            "--authority",
            &authority,
            "--agent",
            "coder-1",
            "--key",
            &agent_key,
            "--approval",
            &asked.approval_id,
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, 3);
    let (code, out, err) = trustctl(
        &cluster,
        &[
            "approvals",
            "approve",
            "--authority",
            &authority,
            "--as",
            "approver:carol",
            "--key",
            &carol_key,
            "--approval",
            &asked.approval_id,
            "--comment",
            "ship it",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("status:         approved"), "{out}");
    let grant_file = cluster.path("approved.b64");
    let (code, _, err) = trustctl(
        &cluster,
        &[
            "approvals",
            "await",
            "--authority",
            &authority,
            "--agent",
            "coder-1",
            "--key",
            &agent_key,
            "--approval",
            &asked.approval_id,
            "--out",
            &grant_file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&grant_file).unwrap().len() > 100);

    let (code, out, err) = trustctl(
        &cluster,
        &[
            "admin",
            "decisions",
            "--authority",
            &authority,
            "--admin",
            "admin:ops",
            "--key",
            &admin_key,
            "--approval",
            &asked.approval_id,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\tapproved\t") && out.contains("by=approver:carol"),
        "{out}"
    );
    assert!(
        out.contains("\tapproval_required\t") && out.contains(&format!("digest={digest}")),
        "{out}"
    );

    let (code, out, err) = trustctl(
        &cluster,
        &[
            "admin",
            "revoke",
            "--authority",
            &authority,
            "--admin",
            "admin:ops",
            "--key",
            &admin_key,
            "--task",
            "deploy-cli",
            "--reason",
            "rolled back",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("revoked 1 grant(s)"), "{out}");
    let (code, _, err) = trustctl(
        &cluster,
        &[
            "admin",
            "revoke",
            "--authority",
            &authority,
            "--admin",
            "admin:ops",
            "--key",
            &admin_key,
            "--task",
            "x",
            "--user",
            "alice",
        ],
    );
    assert_ne!(code, 0, "two targets were accepted: {err}");
}
