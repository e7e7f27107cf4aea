//! A completed step's grants are revoked at completion, and, when a crash came between the
//! durable completion and its revocation, by the sweep at the next start: real sled stores,
//! reopened as a restarted authority would.

use std::path::Path;

use super::*;
use crate::process::{Completion, ProcessDesk, StepGrant};
use crate::profile::{ProcessDef, Profile, ProfileSet};
use crate::registry::{DecisionQuery, GrantEntry, SledRegistry};

const PROFILE: &str = r#"
[profile]
name = "finance"
workspace = "demo"
users = ["alice"]
agents = ["clerk", "checker"]

[[process]]
name = "pay"
started_by = ["clerk"]

[[process.steps]]
name = "prepare"
agents = ["clerk"]
operations = ["fs.write"]
resources = ["invoices/**"]

[[process.steps]]
name = "approve"
approval = true
agents = ["checker"]
"#;

const NOW: i64 = 10_000_000;

fn profiles() -> ProfileSet {
    let profile = Profile::from_toml_str(PROFILE, Path::new("finance.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    ProfileSet::new(vec![profile]).unwrap_or_else(|e| panic!("{e}"))
}

fn def(profiles: &ProfileSet) -> &ProcessDef {
    profiles
        .for_workspace("demo")
        .and_then(|p| p.process("pay"))
        .expect("process `pay`")
}

fn entry(id: &str, parent: Option<&str>, expires_at_ms: i64) -> GrantEntry {
    GrantEntry {
        grant_id: id.into(),
        parent_grant_id: parent.map(str::to_string),
        agent: "clerk".into(),
        user: "alice".into(),
        workspace: "demo".into(),
        task: "pay".into(),
        correlation_id: String::new(),
        decision_id: format!("d-{id}"),
        issued_at_ms: NOW - 1_000,
        expires_at_ms,
        root_key_id: 1,
        revocation_ids: vec![hex::encode(id.as_bytes())],
        revoked: false,
        skill: None,
    }
}

fn step_grant(g: &GrantEntry) -> StepGrant {
    StepGrant {
        grant_id: g.grant_id.clone(),
        agent: g.agent.clone(),
        issued_at_ms: g.issued_at_ms,
        expires_at_ms: g.expires_at_ms,
        decision_id: g.decision_id.clone(),
    }
}

/// An instance at `prepare` holding `live` (with a derived grant below it), `expired` and
/// `unregistered` (recorded against the instance, never handed out), its grants registered.
fn instance_with_grants(
    store: &InstanceStore,
    registry: &dyn Registry,
    profiles: &ProfileSet,
) -> ProcessInstance {
    let live = entry("live", None, NOW + 60_000);
    let derived = entry("derived", Some("live"), NOW + 60_000);
    let expired = entry("expired", None, NOW - EXPIRED_MARGIN_MS - 1);
    registry
        .record_grants(&[live.clone(), derived, expired.clone()])
        .unwrap();
    let mut instance = ProcessInstance::start(
        def(profiles),
        "i-1".into(),
        "demo",
        "INV-1",
        "clerk",
        NOW - 2_000,
        "",
        "d-start".into(),
    )
    .unwrap();
    instance.current_grants = vec![
        step_grant(&live),
        step_grant(&expired),
        step_grant(&entry("unregistered", None, NOW + 60_000)),
    ];
    store.insert_new(&instance).unwrap();
    instance
}

fn revoked(registry: &dyn Registry, id: &str) -> bool {
    registry.grant(id).unwrap().is_some_and(|g| g.revoked)
}

fn revocations(registry: &dyn Registry) -> Vec<String> {
    let (entries, _) = registry.revocations_after(0, 100).unwrap();
    entries.into_iter().map(|e| e.grant_id).collect()
}

#[test]
fn completing_a_step_revokes_its_live_grants_and_their_derivations() {
    let dir = tempfile::tempdir().unwrap();
    let registry = SledRegistry::open(&dir.path().join("registry")).unwrap();
    let desk = ProcessDesk::new(InstanceStore::open(&dir.path().join("processes")).unwrap());
    let profiles = profiles();
    let feed = RevocationFeed::default();
    let (mut published, _) = feed.subscribe();
    let instance = instance_with_grants(desk.store(), &registry, &profiles);
    let completion = Completion {
        principal: "clerk",
        instance_id: &instance.instance_id,
        step: "prepare",
        exception: "",
        note: "",
    };
    let after = desk
        .complete(&completion, &profiles, &registry, &feed, NOW)
        .unwrap();
    assert_eq!(after.current_step.as_deref(), Some("approve"));
    assert!(revoked(&registry, "live") && revoked(&registry, "derived"));
    assert!(
        !revoked(&registry, "expired"),
        "an expired grant is left alone"
    );
    assert_eq!(revocations(&registry), vec!["live", "derived"]);
    let sent: Vec<String> = std::iter::from_fn(|| published.try_recv().ok())
        .map(|e| e.grant_id)
        .collect();
    assert_eq!(sent, vec!["live", "derived"], "published to the live feed");
    let log = registry
        .decisions(&|d| d.effect == revocation::REVOKED, 10)
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].task, "process-instance:i-1");
    assert_eq!(log[0].actor, "clerk");
    assert_eq!(log[0].rule_ids, vec!["process:pay/prepare"]);
    assert_eq!(log[0].revoked_grant_ids, vec!["live", "derived"]);
    assert!(
        log[0]
            .reason
            .contains("grants of step `prepare` of process instance `i-1` (step completed)"),
        "{}",
        log[0].reason
    );
    // Found by the grant too.
    let query = DecisionQuery {
        grant_id: "derived".into(),
        ..Default::default()
    };
    assert!(!registry
        .decisions(&|d| query.matches(d), 10)
        .unwrap()
        .is_empty());
    // Nothing left for a sweep to do.
    assert_eq!(desk.sweep(&registry, &feed, NOW).unwrap(), 0);
}

#[test]
fn a_crash_between_completion_and_revocation_is_swept_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = profiles();
    {
        // The completion is made durable, then the authority dies before revoking.
        let registry = SledRegistry::open(&dir.path().join("registry")).unwrap();
        let store = InstanceStore::open(&dir.path().join("processes")).unwrap();
        let mut instance = instance_with_grants(&store, &registry, &profiles);
        instance
            .complete(
                def(&profiles),
                "prepare",
                "",
                "clerk",
                NOW,
                "d-c".into(),
                "",
            )
            .unwrap();
        store.update(&instance).unwrap();
        assert!(!revoked(&registry, "live"));
    }
    // The next start: reopened stores, the sweep.
    let registry = SledRegistry::open(&dir.path().join("registry")).unwrap();
    let desk = ProcessDesk::new(InstanceStore::open(&dir.path().join("processes")).unwrap());
    let feed = RevocationFeed::default();
    assert_eq!(desk.sweep(&registry, &feed, NOW + 1).unwrap(), 1);
    assert!(revoked(&registry, "live") && revoked(&registry, "derived"));
    assert!(!revoked(&registry, "expired"));
    assert_eq!(revocations(&registry), vec!["live", "derived"]);
    let log = registry
        .decisions(&|d| d.effect == revocation::REVOKED, 10)
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, SWEEP_ACTOR);
    assert!(
        log[0].reason.contains("completion decision `d-c`"),
        "{}",
        log[0].reason
    );
    // Once is enough: a second start finds nothing live.
    assert_eq!(desk.sweep(&registry, &feed, NOW + 2).unwrap(), 0);
    assert_eq!(revocations(&registry).len(), 2);
    // The current step's grants are not touched by the sweep.
    let instance = desk.store().get("i-1").unwrap().unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("approve"));
}
