//! Pinned key sets and feed statements: what is believed, and which alarm each lie raises.

use ed25519_dalek::SigningKey;
use trust_sdk::key_set::{KeySet, KeySetEntry};

use super::*;

fn key_set(
    version: u64,
    keys: &[(u32, &SigningKey, bool)],
    signers: &[&SigningKey],
) -> SignedKeySet {
    KeySet {
        version,
        issued_at_ms: 0,
        keys: keys
            .iter()
            .map(|(id, k, active)| KeySetEntry {
                id: *id,
                public_key: hex::encode(k.verifying_key().as_bytes()),
                active: *active,
            })
            .collect(),
    }
    .sign(signers)
    .unwrap()
}

fn heartbeat(epoch: &str, latest: u64, time_ms: i64) -> FeedStatement {
    FeedStatement {
        epoch: epoch.into(),
        sequence: 0,
        latest_sequence: latest,
        time_ms,
        revocation_id: String::new(),
        grant_id: String::new(),
        registry: None,
    }
}

fn entry(epoch: &str, sequence: u64) -> FeedStatement {
    FeedStatement {
        sequence,
        revocation_id: format!("{sequence:02x}"),
        grant_id: format!("g{sequence}"),
        ..heartbeat(epoch, sequence, 1)
    }
}

/// A state pinned to `root` that accepted its first key set.
fn pinned(dir: &std::path::Path, root: &SigningKey) -> TrustState {
    let state = TrustState::open(dir).unwrap();
    state.pin(vec![root.verifying_key()]);
    state
        .accept_key_set(&key_set(1, &[(1, root, true)], &[root]), 1)
        .unwrap();
    state
}

#[test]
fn only_sets_vouched_for_by_trusted_keys_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let root = trust_sdk::keys::generate();
    let state = pinned(dir.path(), &root);
    assert_eq!(state.root_keys()[0].1, root.verifying_key());
    // Rotation, signed by the previous key too.
    let next = trust_sdk::keys::generate();
    let v2 = key_set(2, &[(1, &root, false), (2, &next, true)], &[&root, &next]);
    state.accept_key_set(&v2, 2).unwrap();
    assert_eq!(state.root_keys().len(), 2);
    assert!(state.alarm().is_none());
    // Replaying version 1 raises an alarm and changes nothing.
    let err = state
        .accept_key_set(&key_set(1, &[(1, &root, true)], &[&root]), 3)
        .unwrap_err();
    assert_eq!(err.kind, AlarmKind::OlderKeySet);
    assert_eq!(state.root_keys().len(), 2);
}

#[test]
fn a_stranger_set_raises_an_alarm_that_survives_a_restart_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let root = trust_sdk::keys::generate();
    let stranger = trust_sdk::keys::generate();
    let alarm_id = {
        let state = pinned(dir.path(), &root);
        let err = state
            .accept_key_set(&key_set(5, &[(1, &stranger, true)], &[&stranger]), 7)
            .unwrap_err();
        assert_eq!(err.kind, AlarmKind::UntrustedKeySet);
        assert_eq!(state.root_keys()[0].1, root.verifying_key());
        let problem = state
            .freshness_problem(8, std::time::Duration::from_secs(30))
            .unwrap();
        assert!(
            problem.contains("not signed by any trusted root key"),
            "{problem}"
        );
        err.id
    };
    let state = TrustState::open(dir.path()).unwrap();
    assert_eq!(state.alarm().unwrap().id, alarm_id);
    // The accepted set is kept: the restart does not fall back to learning keys.
    assert_eq!(state.root_keys()[0].1, root.verifying_key());
    assert_eq!(state.acknowledge("untrusted-key-set-0").unwrap(), None);
    assert!(state.acknowledge(&alarm_id).unwrap().is_some());
    assert!(state.alarm().is_none());
    drop(state);
    assert!(TrustState::open(dir.path()).unwrap().alarm().is_none());
}

#[test]
fn statements_must_be_signed_by_an_accepted_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = trust_sdk::keys::generate();
    let state = pinned(dir.path(), &root);
    let good = heartbeat("e", 0, 5).sign(1, &root).unwrap();
    assert_eq!(state.believe(&good, 5).unwrap(), heartbeat("e", 0, 5));
    let unknown = heartbeat("e", 0, 5).sign(9, &root).unwrap();
    assert_eq!(state.believe(&unknown, 5), Err(FeedDoubt::UnknownKey(9)));
    assert!(state.alarm().is_none());
    let stranger = trust_sdk::keys::generate();
    let forged = heartbeat("e", 0, 5).sign(1, &stranger).unwrap();
    match state.believe(&forged, 5) {
        Err(FeedDoubt::Alarm(a)) => assert_eq!(a.kind, AlarmKind::ForgedFeed),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsigned_heartbeats_raise_an_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let state = pinned(dir.path(), &trust_sdk::keys::generate());
    let unsigned = SignedFeedStatement {
        body: serde_json::to_vec(&heartbeat("e", 0, 5)).unwrap(),
        key_id: 1,
        signature: vec![],
    };
    match state.believe(&unsigned, 5) {
        Err(FeedDoubt::Alarm(a)) => assert_eq!(a.kind, AlarmKind::UnsignedFeed),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn withheld_entries_are_detected_after_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let state = pinned(dir.path(), &trust_sdk::keys::generate());
    assert_eq!(
        state.observe_heartbeat(&heartbeat("e", 0, 10), 10),
        Ok(HeartbeatView::Current)
    );
    assert_eq!(state.staleness_ms(10), Some(0));
    let behind = heartbeat("e", 2, 20);
    assert_eq!(
        state.observe_heartbeat(&behind, 20),
        Ok(HeartbeatView::Behind(2))
    );
    // The fetch brings one of the two entries.
    let first = state.entry(&entry("e", 1), "r", 20).unwrap();
    state.apply_revocations(&[first]).await.unwrap();
    let alarm = state.require_caught_up(&behind, 21).unwrap_err();
    assert_eq!(alarm.kind, AlarmKind::WithheldRevocations);
    assert!(
        alarm.detail.contains("up to sequence 2 but only 1"),
        "{}",
        alarm.detail
    );
}

#[tokio::test]
async fn a_fetch_that_catches_up_confirms_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let state = pinned(dir.path(), &trust_sdk::keys::generate());
    let behind = heartbeat("e", 1, 20);
    assert_eq!(
        state.observe_heartbeat(&behind, 20),
        Ok(HeartbeatView::Behind(1))
    );
    let first = state.entry(&entry("e", 1), "r", 20).unwrap();
    state.apply_revocations(&[first]).await.unwrap();
    state.require_caught_up(&behind, 25).unwrap();
    assert_eq!(state.staleness_ms(25), Some(5));
    // An older heartbeat replayed afterwards confirms nothing.
    assert_eq!(
        state.observe_heartbeat(&heartbeat("e", 1, 15), 40),
        Ok(HeartbeatView::Old)
    );
    assert_eq!(state.staleness_ms(40), Some(20));
}

#[tokio::test]
async fn a_restored_authority_and_another_epoch_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let state = pinned(dir.path(), &trust_sdk::keys::generate());
    for seq in 1..=3 {
        let e = state.entry(&entry("e", seq), "r", 1).unwrap();
        state.apply_revocations(&[e]).await.unwrap();
    }
    let other = state
        .observe_heartbeat(&heartbeat("f", 3, 10), 10)
        .unwrap_err();
    assert_eq!(other.kind, AlarmKind::EpochChanged);
    state.acknowledge(&other.id).unwrap();
    // Acknowledging an epoch alarm follows the new authority from its start; ids stay revoked.
    assert_eq!(state.revocation_cursor(), 0);
    assert_eq!(state.first_revoked(&[vec![3]]), Some(0));
    for seq in 1..=3 {
        let e = state.entry(&entry("f", seq), "r", 11).unwrap();
        state.apply_revocations(&[e]).await.unwrap();
    }
    let back = state
        .observe_heartbeat(&heartbeat("f", 1, 20), 20)
        .unwrap_err();
    assert_eq!(back.kind, AlarmKind::SequenceWentBack);
    assert!(
        back.detail
            .contains("is 1 but this executor already holds up to 3"),
        "{}",
        back.detail
    );
}

fn tool_change(version: u32, state: trust_sdk::tools::Certification) -> String {
    let tool = trust_sdk::tools::ToolDefinition {
        id: "inv".into(),
        version,
        owner: "finance".into(),
        risk: trust_sdk::tools::RiskRating::Low,
        state,
        description: String::new(),
        parameters: serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false}),
        upstream: trust_sdk::tools::ToolUpstream {
            method: "GET".into(),
            url_template: "https://erp.example/".into(),
        },
        secret: None,
    };
    serde_json::to_string(&trust_sdk::tools::CatalogChange::Tool(tool)).unwrap()
}

fn registry_entry(sequence: u64, registry: String) -> FeedStatement {
    FeedStatement {
        revocation_id: String::new(),
        registry: Some(registry),
        ..entry("e", sequence)
    }
}

#[tokio::test]
async fn registry_changes_are_applied_in_order_and_rebuilt_at_open() {
    use trust_sdk::tools::Certification::{Certified, Revoked};
    let dir = tempfile::tempdir().unwrap();
    let root = trust_sdk::keys::generate();
    {
        let state = pinned(dir.path(), &root);
        let certified = registry_entry(1, tool_change(1, Certified));
        let signed = certified.sign(1, &root).unwrap();
        let statement = state.believe(&signed, 5).unwrap();
        let applied = state.entry(&statement, "certified", 5).unwrap();
        assert!(applied.revocation_id.is_empty());
        state.apply_revocations(&[applied]).await.unwrap();
        assert_eq!(state.revocation_cursor(), 1);
        assert_eq!(
            state.tool_catalog().certified_tool("inv").unwrap().version,
            1
        );
    }
    let state = TrustState::open(dir.path()).unwrap();
    assert_eq!(
        state.tool_catalog().certified_tool("inv").unwrap().version,
        1
    );
    let revoked = registry_entry(2, tool_change(1, Revoked));
    let applied = state.entry(&revoked, "revoked", 6).unwrap();
    state.apply_revocations(&[applied]).await.unwrap();
    assert!(state.tool_catalog().certified_tool("inv").is_none());
    drop(state);
    let state = TrustState::open(dir.path()).unwrap();
    assert!(state.tool_catalog().certified_tool("inv").is_none());
    assert_eq!(state.revocation_cursor(), 2);
}

#[test]
fn a_registry_change_that_also_names_a_block_id_or_does_not_parse_raises_an_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let root = trust_sdk::keys::generate();
    let state = pinned(dir.path(), &root);
    let both = FeedStatement {
        registry: Some(tool_change(1, trust_sdk::tools::Certification::Certified)),
        ..entry("e", 1)
    };
    let alarm = state.entry(&both, "", 5).unwrap_err();
    assert_eq!(alarm.kind, AlarmKind::ForgedFeed);
    assert!(
        alarm.detail.contains("also names a block id"),
        "{}",
        alarm.detail
    );
    let dir = tempfile::tempdir().unwrap();
    let state = pinned(dir.path(), &root);
    let garbage = registry_entry(1, "{\"tool\": 3}".into());
    let alarm = state.entry(&garbage, "", 5).unwrap_err();
    assert!(alarm.detail.contains("registry change"), "{}", alarm.detail);
}
