//! The tool and skill registry over real servers: admin-signed registration, certification
//! and revocation at the authority, recorded in the decision log, carried to a running
//! executor on the signed revocation feed; refusals for non-admins, replays and definitions
//! outside the rules; skill-named grant requests.
//!
//! What the executor holds is observed through its log line for each applied registry change
//! ("tool registry change applied", one per feed entry, in sequence order) until `ListTools`
//! (the tools branch) exposes the catalog; the authority side through `ListRegistry`.

use std::time::{Duration, Instant};

use serde_json::json;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_sdk::client::{AuthorityClient, GrantSpec, RegistryKind};
use trust_sdk::signed;
use trust_tests::{Cluster, ClusterOptions};

/// The profile lets the agent hold `tool.invoke` on the skill's tool (a skill grant still
/// needs the profile's consent).
const SKILL_PROFILE: &str = r#"
[[allow]]
id = "month-end-tools"
operations = ["tool.invoke"]
resources = ["invoice-validation"]
"#;

use crate::support::code;

fn tool(id: &str, version: u32) -> serde_json::Value {
    json!({
        "id": id,
        "version": version,
        "owner": "finance-platform",
        "risk": "medium",
        "state": "certified",
        "description": "Validate an invoice",
        "parameters": {
            "type": "object",
            "properties": {
                "invoice_id": {"type": "string", "pattern": "^INV-[0-9]{1,8}$"},
                "amount": {"type": "number", "minimum": 0, "maximum": 100000}
            },
            "required": ["invoice_id"],
            "additionalProperties": false
        },
        "upstream": {"method": "POST", "url_template": "https://erp.example/invoices/{invoice_id}/validate"},
        "secret": {"name": "erp-token", "header": "Authorization"}
    })
}

fn skill(id: &str, version: u32, digest: &str, tools: &[(&str, u32)]) -> serde_json::Value {
    json!({
        "id": id,
        "version": version,
        "owner": "finance-ops",
        "risk": "low",
        "state": "draft",
        "content_digest": digest,
        "tools": tools.iter().map(|(id, v)| json!({"id": id, "version": v})).collect::<Vec<_>>(),
    })
}

struct Admin<'a> {
    cluster: &'a Cluster,
    client: AuthorityClient,
}

impl Admin<'_> {
    async fn register(
        &mut self,
        kind: RegistryKind,
        definition: &serde_json::Value,
    ) -> Result<apb::RegistryChange, trust_sdk::SdkError> {
        let c = self.cluster;
        self.client
            .register_definition(
                &c.admin_id,
                &c.admin_key,
                kind,
                &definition.to_string(),
                "e2e",
            )
            .await
    }

    async fn certify(
        &mut self,
        kind: RegistryKind,
        id: &str,
        version: u32,
    ) -> Result<apb::RegistryChange, trust_sdk::SdkError> {
        let c = self.cluster;
        self.client
            .certify(&c.admin_id, &c.admin_key, kind, id, version, "reviewed")
            .await
    }

    async fn states(&mut self, kind: RegistryKind) -> Vec<(String, u32, String)> {
        let c = self.cluster;
        let list = self
            .client
            .list_registry(&c.admin_id, &c.admin_key)
            .await
            .unwrap();
        let entries = match kind {
            RegistryKind::Tool => list.tools,
            RegistryKind::Skill => list.skills,
        };
        entries
            .into_iter()
            .map(|e| (e.id, e.version, e.state))
            .collect()
    }
}

/// Lines of the executor's log that applied a registry change.
fn applied_changes(cluster: &Cluster) -> Vec<String> {
    let log = std::fs::read_to_string(cluster.dir.path().join("executor.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("tool registry change applied"))
        .map(str::to_string)
        .collect()
}

/// Waits (up to 10 s) for the executor to log `change` applied; returns how long it took.
async fn until_applied(cluster: &Cluster, change: &str) -> Duration {
    let started = Instant::now();
    while !applied_changes(cluster).iter().any(|l| l.contains(change)) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the executor never applied {change}: {:?}",
            applied_changes(cluster)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_lifecycle_reaches_a_running_executor_and_refuses_what_it_must() {
    let cluster = Cluster::start(ClusterOptions {
        profile_extra: SKILL_PROFILE.into(),
        ..ClusterOptions::default()
    })
    .unwrap();
    let mut admin = Admin {
        cluster: &cluster,
        client: cluster.authority_client().await.unwrap(),
    };

    // Register: a draft, recorded, not published.
    let draft = admin
        .register(RegistryKind::Tool, &tool("invoice-validation", 1))
        .await
        .unwrap();
    assert_eq!((draft.state.as_str(), draft.sequence), ("draft", 0));
    assert_eq!(
        admin.states(RegistryKind::Tool).await,
        vec![("invoice-validation".to_string(), 1, "draft".to_string())]
    );

    // Refusals: each precise, each changing nothing.
    let bad: Vec<(serde_json::Value, &str, &str)> =
        vec![
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["parameters"]["properties"]["amount"]["multipleOf"] = json!(5);
                t
            },
            "InvalidArgument",
            "schema keyword `multipleOf` at `/properties/amount` is not in the supported subset",
        ),
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["parameters"]["additionalProperties"] = json!(true);
                t
            },
            "InvalidArgument",
            "schema must set `additionalProperties` to false",
        ),
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["parameters"].as_object_mut().unwrap().remove("additionalProperties");
                t
            },
            "InvalidArgument",
            "schema must set `additionalProperties` to false",
        ),
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["parameters"]["properties"]["invoice_id"]["pattern"] = json!("(INV-");
                t
            },
            "InvalidArgument",
            "pattern of property `invoice_id` does not compile",
        ),
        (
            tool("Invoice/Validation", 1),
            "InvalidArgument",
            "tool id `Invoice/Validation` is not lowercase letters",
        ),
        (
            tool("invoice-validation", 1),
            "FailedPrecondition",
            "tool `invoice-validation` version 1 is not above its latest version 1",
        ),
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["upstream"]["url_template"] = json!("https://erp_internal/{invoice_id}");
                t
            },
            "InvalidArgument",
            "host `erp_internal` is neither a DNS name nor an IP address",
        ),
        (
            {
                let mut t = tool("invoice-validation", 2);
                t["secret"]["header"] = json!("Content-Length");
                t
            },
            "InvalidArgument",
            "secret header",
        ),
    ];
    for (definition, expected_code, message) in &bad {
        let err = admin
            .register(RegistryKind::Tool, definition)
            .await
            .unwrap_err();
        assert_eq!(code(&err), *expected_code, "{err}");
        assert!(
            err.to_string().contains(message),
            "{err} should say {message}"
        );
    }
    assert_eq!(admin.states(RegistryKind::Tool).await.len(), 1);

    // A non-admin (the agent's own key, as itself or claiming the admin's id) is refused.
    let mut client = cluster.authority_client().await.unwrap();
    for signer in [cluster.agent_id.as_str(), cluster.admin_id.as_str()] {
        let err = client
            .certify(
                signer,
                &cluster.agent_key,
                RegistryKind::Tool,
                "invoice-validation",
                1,
                "",
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), "Unauthenticated", "{signer}: {err}");
    }
    assert_eq!(admin.states(RegistryKind::Tool).await[0].2, "draft");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        applied_changes(&cluster).is_empty(),
        "a draft reached the executor"
    );

    // Certify, with a signed request that is then replayed.
    let body = apb::CertifyBody {
        freshness: Some(signed::freshness(trust_sdk::clock::now_ms())),
        id: "invoice-validation".into(),
        version: 1,
        reason: "reviewed".into(),
    };
    let request = signed::sign("CertifyTool", &body, &cluster.admin_id, &cluster.admin_key);
    let certified = client
        .send_registry_request("CertifyTool", request.clone())
        .await
        .unwrap();
    assert_eq!(certified.state, "certified");
    assert!(certified.sequence > 0);
    let took = until_applied(&cluster, "tool `invoice-validation` v1 certified").await;
    println!(
        "certification reached the running executor in {} ms",
        took.as_millis()
    );
    let replayed = client
        .send_registry_request("CertifyTool", request)
        .await
        .unwrap_err();
    assert_eq!(code(&replayed), "Unauthenticated", "{replayed}");
    assert!(replayed.to_string().contains("replay"), "{replayed}");
    // The same body signed for another RPC does not verify either.
    let cross = signed::sign("CertifyTool", &body, &cluster.admin_id, &cluster.admin_key);
    let err = client
        .send_registry_request("RevokeTool", cross)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    assert_eq!(admin.states(RegistryKind::Tool).await[0].2, "certified");

    // Skills: a changed digest is a new draft; grants name only the certified version.
    let digest_a = "a".repeat(64);
    let digest_b = "b".repeat(64);
    let err = admin
        .register(
            RegistryKind::Skill,
            &skill("month-end", 1, "not-a-digest", &[("invoice-validation", 1)]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("64 lowercase hex digits"), "{err}");
    let err = admin
        .register(
            RegistryKind::Skill,
            &skill("month-end", 1, &digest_a, &[("invoice-validation", 7)]),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("needs tool `invoice-validation` v7, which is not registered"),
        "{err}"
    );
    admin
        .register(
            RegistryKind::Skill,
            &skill("month-end", 1, &digest_a, &[("invoice-validation", 1)]),
        )
        .await
        .unwrap();
    let refused = ask(&cluster, 1).await;
    assert_eq!(refused.effect, Effect::Deny);
    assert_eq!(refused.rule_ids, vec!["skill-not-certified".to_string()]);
    assert!(refused.reason.contains("v1 is draft"), "{}", refused.reason);
    admin
        .certify(RegistryKind::Skill, "month-end", 1)
        .await
        .unwrap();
    until_applied(&cluster, "skill `month-end` v1 certified").await;
    admin
        .register(
            RegistryKind::Skill,
            &skill("month-end", 2, &digest_b, &[("invoice-validation", 1)]),
        )
        .await
        .unwrap();
    let changed = ask(&cluster, 2).await;
    assert_eq!(changed.effect, Effect::Deny);
    assert!(
        changed.reason.contains("skill `month-end` v2 is draft"),
        "{}",
        changed.reason
    );
    // The certified version passes the registry; the grant is exactly its tools.
    let granted = ask(&cluster, 1).await;
    assert_ne!(
        granted.rule_ids,
        vec!["skill-not-certified".to_string()],
        "{}",
        granted.reason
    );
    check_skill_grant(&cluster, &granted).await;

    // Revoke: gone at the running executor within the bound, and from skill grants.
    let started = Instant::now();
    let revoked = admin
        .client
        .revoke_definition(
            &cluster.admin_id,
            &cluster.admin_key,
            RegistryKind::Tool,
            "invoice-validation",
            "compromised upstream",
        )
        .await
        .unwrap();
    assert_eq!(revoked.state, "revoked");
    until_applied(&cluster, "tool `invoice-validation` v1 revoked").await;
    let took = started.elapsed();
    println!(
        "tool revocation reached the running executor in {} ms (bound 10 s)",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(10));
    let after = ask(&cluster, 1).await;
    assert!(
        after
            .reason
            .contains("needs tool `invoice-validation` v1, which is not certified"),
        "{}",
        after.reason
    );
    let lines = applied_changes(&cluster);
    assert_eq!(lines.len(), 3, "{lines:?}");

    // Every action is in the decision log, by the admin who took it.
    let log = admin
        .client
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody::default(),
        )
        .await
        .unwrap();
    let effects: Vec<&str> = log.iter().map(|d| d.effect.as_str()).collect();
    for effect in [
        "tool_registered",
        "tool_certified",
        "tool_revoked",
        "skill_registered",
        "skill_certified",
    ] {
        assert!(
            effects.contains(&effect),
            "{effect} missing from {effects:?}"
        );
    }
    assert!(log
        .iter()
        .filter(|d| d.effect.starts_with("tool_") || d.effect.starts_with("skill_"))
        .all(|d| d.actor == cluster.admin_id));
}

/// Registers and certifies tool `invoice-validation` v1 and skill `month-end` v1 that needs
/// it, and waits until the running executor has them.
async fn month_end_certified(cluster: &Cluster) -> Admin<'_> {
    let mut admin = Admin {
        cluster,
        client: cluster.authority_client().await.unwrap(),
    };
    admin
        .register(RegistryKind::Tool, &tool("invoice-validation", 1))
        .await
        .unwrap();
    admin
        .certify(RegistryKind::Tool, "invoice-validation", 1)
        .await
        .unwrap();
    admin
        .register(
            RegistryKind::Skill,
            &skill(
                "month-end",
                1,
                &"a".repeat(64),
                &[("invoice-validation", 1)],
            ),
        )
        .await
        .unwrap();
    admin
        .certify(RegistryKind::Skill, "month-end", 1)
        .await
        .unwrap();
    until_applied(cluster, "skill `month-end` v1 certified").await;
    admin
}

/// Asks for a grant naming skill `month-end` at `version`.
async fn ask(cluster: &Cluster, version: u32) -> trust_sdk::client::GrantAnswer {
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "INV-42".into(),
        purpose: "month end".into(),
        ..Default::default()
    };
    let mut agent = cluster.authority_client().await.unwrap();
    agent
        .request_skill_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec,
            "month-end",
            version,
        )
        .await
        .unwrap()
}

/// A skill grant covers exactly `tool.invoke` on the skill's tools, pinned to their versions,
/// and names the skill (the profile allows `tool.invoke` on the tool: `SKILL_PROFILE`).
async fn check_skill_grant(_cluster: &Cluster, answer: &trust_sdk::client::GrantAnswer) {
    assert_eq!(answer.effect, Effect::Allow, "{}", answer.reason);
    let token = biscuit_auth::UnverifiedBiscuit::from(answer.grant.as_ref().unwrap()).unwrap();
    let source = token.print_block_source(0).unwrap();
    let mut pins: Vec<&str> = source
        .lines()
        .filter(|l| l.starts_with("skill(") || l.starts_with("tool_version("))
        .collect();
    pins.sort();
    assert_eq!(
        pins,
        vec![
            "skill(\"month-end\", 1);",
            "tool_version(\"invoice-validation\", 1);"
        ],
        "{source}"
    );
    let operations: Vec<&str> = source
        .lines()
        .filter(|l| l.starts_with("right(") || l.starts_with("scope("))
        .collect();
    assert!(
        !operations.is_empty()
            && operations
                .iter()
                .all(|l| l.contains("tool.invoke") && l.contains("invoice-validation")),
        "{operations:?}"
    );
}

/// The tools `grant` lets its holder see at the executor.
async fn listed(
    exec: &mut trust_sdk::client::ExecutorClient,
    grant: &[u8],
    holder: &ed25519_dalek::SigningKey,
) -> Result<Vec<String>, trust_sdk::SdkError> {
    Ok(exec
        .list_tools(grant, holder)
        .await?
        .tools
        .into_iter()
        .map(|t| t.tool_id)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_skill_revokes_the_grants_already_minted_for_it() {
    let cluster = Cluster::start(ClusterOptions {
        profile_extra: SKILL_PROFILE.into(),
        ..ClusterOptions::default()
    })
    .unwrap();
    let mut admin = month_end_certified(&cluster).await;

    // A skill grant, one derived from it for a sub-agent, and a plain grant of the same tool.
    let skill_grant = ask(&cluster, 1).await;
    assert_eq!(skill_grant.effect, Effect::Allow, "{}", skill_grant.reason);
    let token = skill_grant.grant.clone().unwrap();
    let keys = admin.client.public_keys().await.unwrap();
    let sub_agent = trust_sdk::keys::generate();
    let derived = trust_sdk::derive::derive(
        &biscuit_auth::Biscuit::from(&token, trust_sdk::client::root_key_provider(&keys)).unwrap(),
        &cluster.agent_key,
        &sub_agent.verifying_key(),
        &trust_sdk::derive::Derivation {
            purpose: "sub-agent validates".into(),
            ..Default::default()
        },
    )
    .unwrap()
    .token
    .to_vec()
    .unwrap();
    let plain = cluster
        .grant("INV-42", &[("tool.invoke", "invoice-validation")])
        .await
        .unwrap();
    assert_eq!(plain.effect, Effect::Allow, "{}", plain.reason);
    let plain = plain.grant.unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let tools = vec!["invoice-validation".to_string()];
    assert_eq!(
        listed(&mut exec, &token, &cluster.agent_key).await.unwrap(),
        tools
    );
    assert_eq!(
        listed(&mut exec, &derived, &sub_agent).await.unwrap(),
        tools
    );

    // Revoke the skill: both grants minted for it are refused at the running executor, for
    // their revoked block, within the feed's delay; the plain grant of the tool is not.
    let started = Instant::now();
    admin
        .client
        .revoke_definition(
            &cluster.admin_id,
            &cluster.admin_key,
            RegistryKind::Skill,
            "month-end",
            "skill content compromised",
        )
        .await
        .unwrap();
    for (grant, holder) in [(&token, &cluster.agent_key), (&derived, &sub_agent)] {
        loop {
            match listed(&mut exec, grant, holder).await {
                Err(e) => {
                    assert_eq!(code(&e), "Unauthenticated", "{e}");
                    assert!(e.to_string().contains("is revoked"), "{e}");
                    break;
                }
                Ok(_) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "a grant of the revoked skill is still admitted after 10 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    println!(
        "the revoked skill's grants were refused {} ms after the revocation",
        started.elapsed().as_millis()
    );
    assert_eq!(
        listed(&mut exec, &plain, &cluster.agent_key).await.unwrap(),
        tools
    );

    // One revocation entry names the skill's grants and the skill revocation.
    let log = admin
        .client
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody {
                grant_id: skill_grant.grant_id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let revoked = log
        .iter()
        .find(|d| d.effect == "revoked")
        .expect("a revocation entry names the skill grant");
    assert!(
        revoked
            .reason
            .contains("grants of skill `month-end` (skill revoked)"),
        "{}",
        revoked.reason
    );
    assert_eq!(revoked.actor, cluster.admin_id);
}

/// A skill grant behind an approval rule waits for a person, and the approved grant carries the
/// skill's pins; an approval decided after the skill was revoked mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_skill_grant_carries_its_pins_and_a_revoked_skill_mints_nothing() {
    let profile = format!(
        "{SKILL_PROFILE}\n[[approval]]\nid = \"month-end-needs-a-person\"\noperations = [\"tool.invoke\"]\nresources = [\"invoice-validation\"]\n"
    );
    let cluster = Cluster::start(ClusterOptions {
        profile_extra: profile,
        ..ClusterOptions::default()
    })
    .unwrap();
    let mut admin = month_end_certified(&cluster).await;
    let invocation = trust_sdk::client::tool_operation(
        "invoice-validation",
        &json!({"invoice_id": "INV-42"}).to_string(),
        0,
    );
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "INV-42".into(),
        purpose: "month end".into(),
        ..Default::default()
    }
    .with_parameters(&invocation);
    let first = open_approval(&cluster, &spec).await;
    let approved = approve_and_wait(&cluster, &first).await;
    check_skill_grant(&cluster, &approved).await;

    // The skill is revoked while a second approval waits: approving it mints nothing.
    let waiting = open_approval(&cluster, &spec).await;
    admin
        .client
        .revoke_definition(
            &cluster.admin_id,
            &cluster.admin_key,
            RegistryKind::Skill,
            "month-end",
            "e2e",
        )
        .await
        .unwrap();
    let cancelled = approve_and_wait(&cluster, &waiting).await;
    assert_eq!(cancelled.effect, Effect::Deny, "{}", cancelled.reason);
    assert!(cancelled.grant.is_none());
    assert_eq!(
        cancelled.rule_ids,
        ["approval-cancelled"],
        "{}",
        cancelled.reason
    );
    // The decision log says why: the skill is no longer grantable.
    let log = admin
        .client
        .list_decisions(
            &cluster.admin_id,
            &cluster.admin_key,
            apb::ListDecisionsBody {
                approval_id: waiting.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        log.iter().any(
            |d| d.effect == "cancelled" && d.reason.contains("skill `month-end` v1 is revoked")
        ),
        "{log:?}"
    );
}

/// Asks for the `month-end` skill grant, which needs approval; returns the approval's id.
async fn open_approval(cluster: &Cluster, spec: &GrantSpec) -> String {
    let mut agent = cluster.authority_client().await.unwrap();
    let pending = agent
        .request_skill_grant(&cluster.agent_id, &cluster.agent_key, spec, "month-end", 1)
        .await
        .unwrap();
    assert_eq!(
        pending.effect,
        Effect::ApprovalRequired,
        "{}",
        pending.reason
    );
    pending.approval_id
}

/// `carol` approves `approval_id` as shown to her; the agent's answer once it is decided.
async fn approve_and_wait(cluster: &Cluster, approval_id: &str) -> trust_sdk::client::GrantAnswer {
    let (carol, carol_key) = cluster.approver("carol");
    let mut authority = cluster.authority_client().await.unwrap();
    let shown = authority
        .list_approvals(&carol, carol_key, true)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.approval_id == approval_id)
        .unwrap();
    authority
        .decide_approval(
            &carol,
            carol_key,
            &trust_sdk::client::ApprovalDecision::on(&shown, true, "ok"),
        )
        .await
        .unwrap();
    authority
        .await_approval(
            &cluster.agent_id,
            &cluster.agent_key,
            approval_id,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
}
