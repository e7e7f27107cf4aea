//! Registry rules on a real sled registry: drafts, certification order, revocation, skills.

use serde_json::json;
use trust_sdk::tools::{RiskRating, ToolUpstream, ToolVersion};

use super::*;
use crate::registry::{GrantEntry, SledRegistry};

fn tool(id: &str, version: u32) -> ToolDefinition {
    ToolDefinition {
        id: id.into(),
        version,
        owner: "finance".into(),
        risk: RiskRating::Medium,
        state: Certification::Certified,
        description: "validate".into(),
        parameters: json!({"type": "object", "properties": {"invoice_id": {"type": "string"}},
            "required": ["invoice_id"], "additionalProperties": false}),
        upstream: ToolUpstream {
            method: "POST".into(),
            url_template: "https://erp.example/invoices/{invoice_id}".into(),
        },
        secret: None,
    }
}

fn skill(id: &str, version: u32, digest: char, tools: &[(&str, u32)]) -> SkillDefinition {
    SkillDefinition {
        id: id.into(),
        version,
        owner: "finance".into(),
        risk: RiskRating::Low,
        state: Certification::Certified,
        content_digest: digest.to_string().repeat(64),
        tools: tools
            .iter()
            .map(|(id, version)| ToolVersion {
                id: id.to_string(),
                version: *version,
            })
            .collect(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    registry: SledRegistry,
    feed: RevocationFeed,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let registry = SledRegistry::open(dir.path()).unwrap();
        Fixture {
            _dir: dir,
            registry,
            feed: RevocationFeed::default(),
        }
    }

    fn action(&self) -> RegistryAction<'_> {
        RegistryAction {
            actor: "admin:ops",
            reason: "test",
            now_ms: 1,
            registry: &self.registry,
            feed: &self.feed,
        }
    }
}

#[test]
fn drafts_are_not_published_and_certification_is() {
    let f = Fixture::new();
    let registered = f.action().register_tool(tool("inv", 1)).unwrap();
    assert_eq!(registered.state, Certification::Draft);
    assert_eq!(registered.sequence, 0);
    assert_eq!(
        f.registry.tool_versions("inv").unwrap()[0].state,
        Certification::Draft
    );
    assert_eq!(certified_tool_version(&f.registry, "inv").unwrap(), None);
    let certified = f.action().certify_tool("inv", 1).unwrap();
    assert_eq!(certified.sequence, 1);
    let (entries, latest) = f.registry.revocations_after(0, 10).unwrap();
    assert_eq!(latest, 1);
    let change: CatalogChange =
        serde_json::from_str(entries[0].registry.as_deref().unwrap()).unwrap();
    assert!(matches!(change, CatalogChange::Tool(t) if t.state == Certification::Certified));
    let decision = f
        .registry
        .decision(&certified.decision_id)
        .unwrap()
        .unwrap();
    assert_eq!(decision.effect, "tool_certified");
    assert_eq!(decision.actor, "admin:ops");
}

#[test]
fn versions_only_go_up_and_old_drafts_cannot_overtake() {
    let f = Fixture::new();
    f.action().register_tool(tool("inv", 2)).unwrap();
    let err = f.action().register_tool(tool("inv", 2)).unwrap_err();
    assert_eq!(
        err,
        AuthorityError::FailedPrecondition(
            "tool `inv` version 2 is not above its latest version 2".into()
        )
    );
    f.action().register_tool(tool("inv", 3)).unwrap();
    f.action().certify_tool("inv", 3).unwrap();
    let err = f.action().certify_tool("inv", 2).unwrap_err().to_string();
    assert!(err.contains("`inv` v3 is already certified"), "{err}");
    let err = f.action().certify_tool("inv", 3).unwrap_err().to_string();
    assert!(err.contains("is certified, not a draft"), "{err}");
    assert!(matches!(
        f.action().certify_tool("inv", 9),
        Err(AuthorityError::NotFound(_))
    ));
}

#[test]
fn revoking_revokes_every_version_and_a_new_version_can_return() {
    let f = Fixture::new();
    f.action().register_tool(tool("inv", 1)).unwrap();
    f.action().certify_tool("inv", 1).unwrap();
    f.action().register_tool(tool("inv", 2)).unwrap();
    let revoked = f.action().revoke_tool("inv").unwrap();
    assert_eq!(
        (revoked.version, revoked.state),
        (2, Certification::Revoked)
    );
    assert!(f
        .registry
        .tool_versions("inv")
        .unwrap()
        .iter()
        .all(|t| t.state == Certification::Revoked));
    assert_eq!(certified_tool_version(&f.registry, "inv").unwrap(), None);
    assert!(matches!(
        f.action().revoke_tool("inv"),
        Err(AuthorityError::FailedPrecondition(_))
    ));
    f.action().register_tool(tool("inv", 3)).unwrap();
    f.action().certify_tool("inv", 3).unwrap();
    assert_eq!(certified_tool_version(&f.registry, "inv").unwrap(), Some(3));
}

#[test]
fn skills_need_their_tools_and_a_changed_skill_needs_certification() {
    let f = Fixture::new();
    let err = f
        .action()
        .register_skill(skill("month-end", 1, 'a', &[("inv", 1)]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs tool `inv` v1, which is not registered"),
        "{err}"
    );
    f.action().register_tool(tool("inv", 1)).unwrap();
    f.action()
        .register_skill(skill("month-end", 1, 'a', &[("inv", 1)]))
        .unwrap();
    let err = f
        .action()
        .certify_skill("month-end", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no version of it is certified"), "{err}");
    assert_eq!(
        resolve_skill(&f.registry, "month-end", 1).unwrap(),
        Err("denied: skill `month-end` v1 is draft; only a certified skill is granted".into())
    );
    f.action().certify_tool("inv", 1).unwrap();
    f.action().certify_skill("month-end", 1).unwrap();
    let pins = resolve_skill(&f.registry, "month-end", 1).unwrap().unwrap();
    assert_eq!(pins.tools, vec![("inv".to_string(), 1)]);
    // New content: a new version, a draft, not granted until certified.
    f.action()
        .register_skill(skill("month-end", 2, 'b', &[("inv", 1)]))
        .unwrap();
    let refused = resolve_skill(&f.registry, "month-end", 2)
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("v2 is draft"), "{refused}");
    assert!(resolve_skill(&f.registry, "month-end", 1).unwrap().is_ok());
    f.action().certify_skill("month-end", 2).unwrap();
    let refused = resolve_skill(&f.registry, "month-end", 1)
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("superseded by v2"), "{refused}");
    // A revoked tool takes its skills with it.
    f.action().revoke_tool("inv").unwrap();
    let refused = resolve_skill(&f.registry, "month-end", 2)
        .unwrap()
        .unwrap_err();
    assert!(
        refused.contains("needs tool `inv` v1, which is not certified"),
        "{refused}"
    );
}

#[test]
fn bad_definitions_are_refused_with_their_reason() {
    let f = Fixture::new();
    let mut bad_id = tool("Inv/1", 1);
    bad_id.id = "Inv/1".into();
    let err = f.action().register_tool(bad_id).unwrap_err().to_string();
    assert!(err.contains("tool id `Inv/1` is not lowercase"), "{err}");
    let mut open = tool("inv", 1);
    open.parameters["additionalProperties"] = json!(true);
    let err = f.action().register_tool(open).unwrap_err().to_string();
    assert!(err.contains("`additionalProperties` to false"), "{err}");
    let mut header = tool("inv", 1);
    header.secret = Some(trust_sdk::tools::ToolSecret {
        name: "erp-token".into(),
        header: "Bad Header".into(),
    });
    let err = f.action().register_tool(header).unwrap_err().to_string();
    assert!(err.contains("secret header"), "{err}");
    let err = f
        .action()
        .register_skill(skill("s", 1, 'G', &[("inv", 1)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("64 lowercase hex digits"), "{err}");
    assert!(f.registry.catalog().unwrap().0.is_empty());
}

fn grant_entry(id: &str, parent: Option<&str>, skill: Option<(&str, u32)>) -> GrantEntry {
    GrantEntry {
        grant_id: id.into(),
        parent_grant_id: parent.map(str::to_string),
        agent: "invoice-bot".into(),
        user: "alice".into(),
        workspace: "demo".into(),
        task: "t".into(),
        correlation_id: String::new(),
        decision_id: String::new(),
        issued_at_ms: 0,
        expires_at_ms: 60_000,
        root_key_id: 1,
        revocation_ids: vec![hex::encode(id.as_bytes())],
        revoked: false,
        skill: skill.map(|(s, v)| (s.to_string(), v)),
    }
}

#[test]
fn revoking_a_skill_revokes_the_grants_issued_for_it() {
    let f = Fixture::new();
    let a = f.action();
    a.register_tool(tool("inv", 1)).unwrap();
    a.certify_tool("inv", 1).unwrap();
    for id in ["pay", "other"] {
        a.register_skill(skill(id, 1, 'a', &[("inv", 1)])).unwrap();
        a.certify_skill(id, 1).unwrap();
    }
    f.registry
        .record_grants(&[
            grant_entry("g-pay", None, Some(("pay", 1))),
            grant_entry("g-pay-derived", Some("g-pay"), Some(("pay", 1))),
            grant_entry("g-other", None, Some(("other", 1))),
            grant_entry("g-plain", None, None),
        ])
        .unwrap();
    let (mut published, _) = f.feed.subscribe();
    let changed = a.revoke_skill("pay").unwrap();
    let revoked = |id: &str| f.registry.grant(id).unwrap().unwrap().revoked;
    assert!(revoked("g-pay") && revoked("g-pay-derived"));
    assert!(!revoked("g-other") && !revoked("g-plain"));
    // The skill change, then its grants' revocation ids, on the feed.
    let sent: Vec<(Option<String>, String)> = std::iter::from_fn(|| published.try_recv().ok())
        .map(|e| (e.registry.map(|_| "skill".to_string()), e.grant_id))
        .collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0].0.as_deref(), Some("skill"));
    assert_eq!(sent[1].1, "g-pay");
    assert_eq!(sent[2].1, "g-pay-derived");
    // A revocation entry that names the skill revocation's decision.
    let log = f
        .registry
        .decisions(&|d| d.effect == crate::revocation::REVOKED, 10)
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].revoked_grant_ids, vec!["g-pay", "g-pay-derived"]);
    assert_eq!(log[0].actor, "admin:ops");
    assert!(
        log[0]
            .reason
            .contains("grants of skill `pay` (skill revoked)")
            && log[0].reason.contains(&changed.decision_id),
        "{}",
        log[0].reason
    );
    // The start-up sweep finds nothing more; a grant registered live under the revoked skill
    // (as after a crash between the two writes) is caught by it.
    assert_eq!(sweep_revoked_skills(&f.registry, &f.feed, 1).unwrap(), 0);
    f.registry
        .record_grants(&[grant_entry("g-pay-late", None, Some(("pay", 1)))])
        .unwrap();
    assert_eq!(sweep_revoked_skills(&f.registry, &f.feed, 1).unwrap(), 1);
    assert!(revoked("g-pay-late"));
    assert!(!revoked("g-other"));
}
