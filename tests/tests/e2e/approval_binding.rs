//! Approvals bind what a person decided, as attacks through real servers: an approver's own
//! agent asking "for" another user, a decision signed over other parameters than the ones
//! pending, an approved grant used more often than approved, a script changed between
//! approval and run; and a replay-cache flood by one agent that leaves admins working.

use std::time::Duration;

use biscuit_auth::Biscuit;
use ed25519_dalek::SigningKey;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1 as epb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::client::{now_ms, root_key_provider, ApprovalDecision, GrantAnswer, GrantSpec};
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord, RecordKind};
use trust_sdk::revocation_target::RevocationTarget;
use trust_sdk::signed;
use trust_sdk::vocabulary::Approval;
use trust_tests::cluster::coding_profile;
use trust_tests::{Cluster, ClusterOptions};

use crate::approvals::{decide, shown};
use crate::support::*;

/// Approval rules: `deploy/**` writes (single use), `batch/**` writes (three uses), and the
/// `test` command.
const RULES: &str = r#"
[[approval]]
id = "deploy"
operations = ["fs.write"]
resources = ["deploy/**"]

[[approval]]
id = "batch"
operations = ["fs.write"]
resources = ["batch/**"]
approved_uses = 3

[[approval]]
id = "run-approved"
operations = ["proc.run"]
resources = ["test"]
"#;

/// Replay quota of each agent in these clusters (small, so that a test can fill it).
const AGENT_QUOTA: usize = 30;

/// A cluster whose profile also lets `dave-bot` (owned by approver dave, configured to act
/// for alice) and `carol-bot` request grants; returns dave-bot's key.
fn cluster() -> (Cluster, SigningKey) {
    let dave_bot = trust_sdk::keys::generate();
    let profile = coding_profile().unwrap().replace(
        r#"agents = ["coder-1"]"#,
        r#"agents = ["coder-1", "dave-bot", "carol-bot"]"#,
    );
    let cluster = Cluster::start(ClusterOptions {
        profile: Some(profile),
        profile_extra: RULES.into(),
        authority_extra: format!(
            "replay_quota_per_agent = {AGENT_QUOTA}\n\n[[agents]]\nid = \"dave-bot\"\nowner = \"dave\"\n\
             acts_for = [\"alice\"]\npublic_key = \"{}\"\n",
            hex::encode(dave_bot.verifying_key().as_bytes())
        ),
        ..Default::default()
    })
    .unwrap();
    for dir in ["deploy", "batch"] {
        std::fs::create_dir_all(cluster.workspace.join(dir)).unwrap();
    }
    (cluster, dave_bot)
}

fn spec(task: &str, scope: (&str, &str), op: &Op) -> GrantSpec {
    GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "binding test".into(),
        scopes: vec![(scope.0.into(), scope.1.into())],
        ..Default::default()
    }
    .with_parameters(op)
}

/// Asks as coder-1 (for alice) for exactly `op`, approved by carol; returns the grant.
async fn approved_grant(cluster: &Cluster, task: &str, scope: (&str, &str), op: &Op) -> Vec<u8> {
    let mut authority = cluster.authority_client().await.unwrap();
    let asked = authority
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec(task, scope, op),
        )
        .await
        .unwrap();
    assert_eq!(asked.effect, Effect::ApprovalRequired, "{asked:?}");
    let decided = decide(cluster, "carol", &asked.approval_id, true, "ok")
        .await
        .unwrap();
    assert_eq!(decided.status, "approved", "{decided:?}");
    collect(cluster, &asked.approval_id).await.grant.unwrap()
}

async fn collect(cluster: &Cluster, approval_id: &str) -> GrantAnswer {
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .await_approval(
            &cluster.agent_id,
            &cluster.agent_key,
            approval_id,
            Duration::ZERO,
        )
        .await
        .unwrap()
}

async fn log(cluster: &Cluster, approval_id: &str) -> Vec<apb::DecisionRecord> {
    let mut authority = cluster.authority_client().await.unwrap();
    let filter = apb::ListDecisionsBody {
        approval_id: approval_id.into(),
        ..Default::default()
    };
    let mut log = authority
        .list_decisions(&cluster.admin_id, &cluster.admin_key, filter)
        .await
        .unwrap();
    log.reverse();
    log
}

/// Every provenance record of the executor.
async fn records(cluster: &Cluster) -> Vec<ProvenanceRecord> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap()
        .iter()
        .filter_map(|l| match serde_json::from_str::<ProvenanceEntry>(l) {
            Ok(ProvenanceEntry::Record(r)) => Some(r),
            _ => None,
        })
        .collect()
}

/// Refusal records of `check`.
async fn refusals(cluster: &Cluster, check: &str) -> Vec<ProvenanceRecord> {
    records(cluster)
        .await
        .into_iter()
        .filter(|r| {
            r.kind == RecordKind::Refusal && r.reasons.first().map(String::as_str) == Some(check)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approvers_own_agent_cannot_have_its_owner_approve_for_another_user() {
    let (cluster, dave_bot) = cluster();
    let mut authority = cluster.authority_client().await.unwrap();
    let op = write("deploy/app.toml", b"replicas = 2\n");

    // carol's own agent asks "for" alice: alice is neither its owner nor a user it may act
    // for, so the request is refused (recorded) before policy; no approval is opened.
    let carol_bot = trust_sdk::keys::generate();
    authority
        .register_agent(
            &cluster.admin_id,
            &cluster.admin_key,
            "carol-bot",
            "carol",
            &carol_bot.verifying_key(),
        )
        .await
        .unwrap();
    let answer = authority
        .request_grant(
            "carol-bot",
            &carol_bot,
            &spec("for-alice", ("fs.write", "deploy/app.toml"), &op),
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Deny, "{answer:?}");
    assert_eq!(answer.rule_ids, vec!["user-not-accountable".to_string()]);
    assert!(
        answer
            .reason
            .contains("only for its owner `carol`, not for `alice`"),
        "{}",
        answer.reason
    );
    assert!(answer.approval_id.is_empty() && answer.grant.is_none());
    let pending = authority
        .list_approvals(
            &cluster.approver("carol").0,
            cluster.approver("carol").1,
            true,
        )
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let recorded = authority
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody {
                agent_id: "carol-bot".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        recorded
            .iter()
            .any(|d| d.effect == "deny" && d.rule_ids == vec!["user-not-accountable".to_string()]),
        "{recorded:?}"
    );

    // dave's agent may act for alice (configured), but then dave may not approve it: he owns
    // the agent. Nothing is decided; another approver can.
    let asked = authority
        .request_grant(
            "dave-bot",
            &dave_bot,
            &spec("dave-for-alice", ("fs.write", "deploy/app.toml"), &op),
        )
        .await
        .unwrap();
    assert_eq!(asked.effect, Effect::ApprovalRequired, "{asked:?}");
    let err = decide(
        &cluster,
        "dave",
        &asked.approval_id,
        true,
        "my bot, my call",
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("separation of duties"), "{err}");
    assert!(err.to_string().contains("owner `dave`"), "{err}");
    let still = authority
        .await_approval("dave-bot", &dave_bot, &asked.approval_id, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(still.effect, Effect::ApprovalRequired, "{still:?}");
    assert!(still.grant.is_none());
    let approved = decide(&cluster, "carol", &asked.approval_id, true, "fine")
        .await
        .unwrap();
    assert_eq!(approved.status, "approved");
    assert_eq!(
        effects_of(&log(&cluster, &asked.approval_id).await),
        vec!["approval_required", "approval_refused", "approved"]
    );
}

fn effects_of(log: &[apb::DecisionRecord]) -> Vec<String> {
    log.iter().map(|d| d.effect.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_signed_over_other_parameters_decides_nothing() {
    let (cluster, _) = cluster();
    let op = write("deploy/app.toml", b"replicas = 5\n");
    let mut authority = cluster.authority_client().await.unwrap();
    let asked = authority
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec("shown", ("fs.write", "deploy/app.toml"), &op),
        )
        .await
        .unwrap();
    let view = shown(&cluster, &asked.approval_id).await;
    assert_eq!(view.parameters_digest, trust_sdk::parameters::digest(&op));

    // A party on the link shows carol another write: she approves what she saw, which is not
    // what is pending, so nothing is approved.
    let other = write("deploy/app.toml", b"replicas = 500\n");
    let (other_digest, other_summary) = (
        trust_sdk::parameters::digest(&other),
        trust_sdk::parameters::summary(&other),
    );
    let (carol, carol_key) = cluster.approver("carol");
    for (digest, summary, approve, expect) in [
        (&other_digest, &other_summary, true, "parameter digest"),
        // The right digest with a doctored summary (what carol read) is refused too.
        (
            &view.parameters_digest,
            &other_summary,
            true,
            "summary that is not the one",
        ),
        // And a denial over other parameters denies nothing either.
        (&other_digest, &other_summary, false, "parameter digest"),
    ] {
        let decision = ApprovalDecision {
            approval_id: &asked.approval_id,
            shown_digest: digest,
            shown_summary: summary,
            approve,
            comment: "what I saw",
        };
        let err = authority
            .decide_approval(&carol, carol_key, &decision)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "{err}");
        assert!(err.to_string().contains(expect), "{err}");
        assert!(err.to_string().contains("nothing is decided"), "{err}");
    }
    // Nothing was minted or decided.
    let pending = collect(&cluster, &asked.approval_id).await;
    assert_eq!(pending.effect, Effect::ApprovalRequired, "{pending:?}");
    assert!(pending.grant.is_none());
    let before = log(&cluster, &asked.approval_id).await;
    assert_eq!(
        effects_of(&before),
        vec![
            "approval_required",
            "approval_refused",
            "approval_refused",
            "approval_refused"
        ]
    );
    assert!(before.iter().all(|d| d.grant_id.is_empty()), "{before:?}");

    // Signed over what is pending, the decision counts.
    let decided = authority
        .decide_approval(
            &carol,
            carol_key,
            &ApprovalDecision::on(&view, true, "checked"),
        )
        .await
        .unwrap();
    assert_eq!(decided.status, "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_grant_is_single_use_unless_its_rule_allows_more() {
    let (mut cluster, _) = cluster();
    let mut exec = cluster.executor_client().await.unwrap();

    // Default: one use. The second is refused, recorded, and writes nothing.
    let op = write("deploy/app.toml", b"replicas = 7\n");
    let grant = approved_grant(&cluster, "once", ("fs.write", "deploy/app.toml"), &op).await;
    exec.execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap();
    std::fs::remove_file(cluster.workspace.join("deploy/app.toml")).unwrap();
    let err = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("approved-uses"), "{err}");
    assert!(!cluster.workspace.join("deploy/app.toml").exists());
    let refused = refusals(&cluster, "approved-uses").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].reasons[1].contains("good for 1 use(s)"),
        "{:?}",
        refused[0].reasons
    );

    // A rule allowing three uses: the grant says so, the approver saw it, and the count
    // survives an executor restart; the fourth use is refused.
    let op = write("batch/job.txt", b"run\n");
    let mut authority = cluster.authority_client().await.unwrap();
    let asked = authority
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec("thrice", ("fs.write", "batch/job.txt"), &op),
        )
        .await
        .unwrap();
    assert_eq!(shown(&cluster, &asked.approval_id).await.max_uses, 3);
    decide(&cluster, "carol", &asked.approval_id, true, "three runs")
        .await
        .unwrap();
    let grant = collect(&cluster, &asked.approval_id).await.grant.unwrap();
    let keys = authority.public_keys().await.unwrap();
    let claims = trust_sdk::vocabulary::read_claims(
        &Biscuit::from(&grant, root_key_provider(&keys)).unwrap(),
    )
    .unwrap();
    assert!(
        matches!(claims.approval, Approval::Approved { max_uses: 3, .. }),
        "{:?}",
        claims.approval
    );
    for _ in 0..2 {
        exec.execute(&grant, &cluster.agent_key, op.clone())
            .await
            .unwrap();
    }
    cluster.start_executor().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let mut third = None;
    for _ in 0..100 {
        // The restarted executor answers once its revocation view is fresh.
        match exec.execute(&grant, &cluster.agent_key, op.clone()).await {
            Err(e) if code(&e) == "Unavailable" => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => {
                third = Some(other);
                break;
            }
        }
    }
    third.expect("executor never became available").unwrap();
    let err = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("approved-uses"), "{err}");
    let refused = refusals(&cluster, "approved-uses").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[1].reasons[1].contains("good for 3 use(s)"));
}

/// `proc.run` of the `test` command, declaring the digest of each of `files` as it is now.
fn run_binding(ws: &std::path::Path, files: &[&str]) -> Op {
    Op::Run(epb::RunRequest {
        command: "test".into(),
        cwd: String::new(),
        timeout_ms: 0,
        file_sha256: trust_sdk::parameters::file_digests(ws, files).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_changed_between_approval_and_run_is_refused() {
    let (cluster, _) = cluster();
    let ws = cluster.workspace.clone();
    let script = ws.join("run-tests.sh");
    let original = std::fs::read(&script).unwrap();
    let op = run_binding(&ws, &["run-tests.sh"]);
    // The approver sees the script's digest in what it approves.
    let mut authority = cluster.authority_client().await.unwrap();
    let asked = authority
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec("run-bound", ("proc.run", "test"), &op),
        )
        .await
        .unwrap();
    assert_eq!(asked.effect, Effect::ApprovalRequired, "{asked:?}");
    let view = shown(&cluster, &asked.approval_id).await;
    assert!(
        view.parameters_summary
            .contains(r#""files":{"run-tests.sh":""#),
        "{}",
        view.parameters_summary
    );
    decide(&cluster, "carol", &asked.approval_id, true, "tests only")
        .await
        .unwrap();
    let grant = collect(&cluster, &asked.approval_id).await.grant.unwrap();

    // The script is changed after the approval: the run is refused, recorded, and nothing ran.
    let marker = ws.join("tests/ran.txt");
    let mut changed = original.clone();
    changed.extend_from_slice(b"\necho pwned > tests/ran.txt\n");
    std::fs::write(&script, &changed).unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let err = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("approved-files"), "{err}");
    assert!(err.to_string().contains("`run-tests.sh` changed"), "{err}");
    assert!(!marker.exists());
    let refused = refusals(&cluster, "approved-files").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].operation, "proc.run");

    // Put back, the approved script runs (the refused attempt spent no use).
    std::fs::write(&script, &original).unwrap();
    let done = exec
        .execute(&grant, &cluster.agent_key, op.clone())
        .await
        .unwrap();
    assert!(done.provenance_sequence > 0);

    // An approval that binds no file cannot run a command naming a workspace script.
    let bare = run("test");
    let grant = approved_grant(&cluster, "run-unbound", ("proc.run", "test"), &bare).await;
    let err = exec
        .execute(&grant, &cluster.agent_key, bare)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("does not bind by digest"), "{err}");
    assert_eq!(refusals(&cluster, "approved-files").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_cache_flood_by_one_agent_leaves_admin_revocation_working() {
    let (cluster, dave_bot) = cluster();
    let mut authority = cluster.authority_client().await.unwrap();
    let granted = cluster
        .grant("before-flood", &[("fs.read", "")])
        .await
        .unwrap();
    assert_eq!(granted.effect, Effect::Allow);
    let grant = granted
        .grant
        .clone()
        .expect("an allowed answer carries its grant");
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, read("README.md"))
        .await
        .unwrap();

    // coder-1 floods signed requests (each fresh, each refused after authentication) until
    // its own replay quota is full.
    let mut full = None;
    for i in 0..(AGENT_QUOTA * 2) {
        let body = apb::GrantRequestBody {
            freshness: Some(signed::freshness(now_ms())),
            agent_id: "coder-1".into(),
            user: "alice".into(),
            workspace: "demo".into(),
            task: String::new(),
            ..Default::default()
        };
        let request = signed::sign("RequestGrant", &body, "coder-1", &cluster.agent_key);
        match authority.send_grant_request(request).await {
            Err(e) if e.to_string().contains("replay cache of `coder-1` is full") => {
                full = Some((i, e));
                break;
            }
            Err(e) => assert_eq!(code(&e), "InvalidArgument", "{e}"),
            Ok(answer) => panic!("an invalid request was answered: {answer:?}"),
        }
    }
    let (sent, err) = full.expect("the flood never filled coder-1's quota");
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    assert!(sent >= AGENT_QUOTA - 1, "full after only {sent} requests");

    // The flooder itself is refused now ...
    let err = cluster
        .grant("during-flood", &[("fs.read", "")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is full"), "{err}");
    // ... but another agent, the admin and an approver are not.
    let other = authority
        .request_grant(
            "dave-bot",
            &dave_bot,
            &GrantSpec {
                user: "alice".into(),
                workspace: "demo".into(),
                task: "other-agent".into(),
                scopes: vec![("fs.read".into(), "".into())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(other.effect, Effect::Allow, "{other:?}");
    let revoked = authority
        .revoke(
            &cluster.admin_id,
            &cluster.admin_key,
            &RevocationTarget::Grant {
                grant_id: granted.grant_id.clone(),
                include_derived: false,
            },
            "flood: revoke the flooder's grant",
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_grant_ids, vec![granted.grant_id.clone()]);
    // The revocation reaches the executor over the feed while the flooder's cache stays full.
    let started = std::time::Instant::now();
    let refusal = loop {
        match exec
            .execute(&grant, &cluster.agent_key, read("README.md"))
            .await
        {
            Err(e) => break e,
            Ok(_) if started.elapsed() > Duration::from_secs(10) => {
                panic!("the flooder's grant is still admitted 10 s after its revocation")
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(code(&refusal), "Unauthenticated", "{refusal}");
    assert!(refusal.to_string().contains("revoked"), "{refusal}");
    authority
        .set_agent_enabled(
            &cluster.admin_id,
            &cluster.admin_key,
            "coder-1",
            false,
            "flooding the authority",
        )
        .await
        .unwrap();
    let (carol, carol_key) = cluster.approver("carol");
    authority
        .list_approvals(&carol, carol_key, true)
        .await
        .unwrap();
}
