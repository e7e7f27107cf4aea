//! The authority over real gRPC: decisions, grant contents, request authentication, keys, durability.

use std::time::Duration;

use biscuit_auth::Biscuit;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_sdk::client::{now_ms, root_key_provider, GrantSpec};
use trust_sdk::signed;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::code;

fn authority_only() -> Cluster {
    Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap()
}

fn body(task: &str, scopes: &[(&str, &str)], timestamp_ms: i64) -> apb::GrantRequestBody {
    let mut freshness = signed::freshness(timestamp_ms);
    freshness.timestamp_ms = timestamp_ms;
    apb::GrantRequestBody {
        freshness: Some(freshness),
        agent_id: "coder-1".into(),
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "test".into(),
        scopes: scopes
            .iter()
            .map(|(o, r)| apb::Scope {
                operation: o.to_string(),
                resource: r.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_grant_states_exactly_what_was_asked() {
    let cluster = authority_only();
    let before = now_ms();
    let answer = cluster
        .grant(
            "task-7",
            &[
                ("fs.read", "src"),
                ("fs.patch", "src/"),
                ("proc.run", "test"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    assert!(
        answer.rule_ids.contains(&"read-anything".to_string()),
        "{:?}",
        answer.rule_ids
    );
    let mut client = cluster.authority_client().await.unwrap();
    let keys = client.public_keys().await.unwrap();
    let token = Biscuit::from(answer.grant.as_ref().unwrap(), root_key_provider(&keys)).unwrap();
    let claims = trust_sdk::vocabulary::read_claims(&token).unwrap();
    assert_eq!(claims.grant_id, answer.grant_id);
    assert_eq!(claims.user, "alice");
    assert_eq!(claims.agent, "coder-1");
    assert_eq!(claims.holder, cluster.agent_key.verifying_key());
    assert_eq!(claims.workspace, "demo");
    assert_eq!(claims.task, "task-7");
    assert_eq!(claims.profile, "coding");
    let mut scopes = claims.scopes.clone();
    scopes.sort();
    assert_eq!(
        scopes,
        vec![
            ("fs.patch".into(), "src".into()),
            ("fs.read".into(), "src".into())
        ]
    );
    assert_eq!(
        claims.commands,
        vec![("test".into(), vec!["sh".into(), "run-tests.sh".into()])]
    );
    assert!(claims.deny_globs.contains(&"**/.env".to_string()));
    assert!(claims
        .limits
        .iter()
        .any(|(n, v)| n == "read_bytes" && *v == 1_048_576));
    let expires = claims
        .expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fifteen_min = 15 * 60 * 1000;
    assert!(expires >= before + fifteen_min - 2_000 && expires <= now_ms() + fifteen_min + 2_000);
    assert_eq!(answer.expires_at_ms / 1000, expires / 1000);
    assert_eq!(token.root_key_id(), Some(1));
    assert_eq!(token.block_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_and_approval_required_return_no_grant_and_name_the_rule() {
    let cluster = authority_only();
    type Case<'a> = (&'a [(&'a str, &'a str)], Effect, &'a str);
    let cases: &[Case] = &[
        (&[("fs.write", ".env")], Effect::Deny, "secrets"),
        (&[("fs.read", ".env")], Effect::Deny, "secrets"), // deny wins over `read-anything`
        (
            &[("fs.read", "src/"), ("fs.write", "README.md")],
            Effect::Deny,
            "default-deny",
        ),
        (&[("fs.delete", "src/")], Effect::Deny, "unknown-operation"),
        (&[("fs.read", "../etc")], Effect::Deny, "invalid-resource"),
        (&[("proc.run", "deploy")], Effect::Deny, "default-deny"),
        (
            &[("net.http", "example.com")],
            Effect::ApprovalRequired,
            "network",
        ),
    ];
    for (scopes, effect, rule) in cases {
        let answer = cluster.grant("t", scopes).await.unwrap();
        assert_eq!(answer.effect, *effect, "{scopes:?}: {answer:?}");
        assert!(answer.grant.is_none(), "{scopes:?} returned a grant");
        assert!(
            answer.rule_ids.iter().any(|r| r == rule),
            "{scopes:?}: {:?}",
            answer.rule_ids
        );
        assert!(!answer.reason.is_empty());
    }
    // Wrong user for the profile.
    let mut client = cluster.authority_client().await.unwrap();
    let spec = GrantSpec {
        user: "mallory".into(),
        workspace: "demo".into(),
        task: "t".into(),
        scopes: vec![("fs.read".into(), "".into())],
        ..Default::default()
    };
    let answer = client
        .request_grant("coder-1", &cluster.agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Deny);
    // coder-1 acts only for its owner alice: refused before the profile is consulted.
    assert!(
        answer
            .rule_ids
            .contains(&"user-not-accountable".to_string()),
        "{:?}",
        answer.rule_ids
    );
    // A registered agent the profile does not list.
    let answer = client
        .request_grant(
            "intruder",
            &cluster.other_agent_key,
            &GrantSpec {
                user: "alice".into(),
                ..spec
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Deny);
    assert!(
        answer.rule_ids.contains(&"agent-not-permitted".to_string()),
        "{:?}",
        answer.rule_ids
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_above_the_ceiling_is_clamped() {
    let cluster = authority_only();
    let mut client = cluster.authority_client().await.unwrap();
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "long".into(),
        scopes: vec![("fs.read".into(), "".into())],
        ttl: Some(Duration::from_secs(10 * 3600)),
        ..Default::default()
    };
    let answer = client
        .request_grant("coder-1", &cluster.agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow);
    assert!(
        answer.rule_ids.contains(&"ttl-ceiling".to_string()),
        "{:?}",
        answer.rule_ids
    );
    let hour = 3600 * 1000;
    assert!(
        answer.expires_at_ms <= now_ms() + hour + 1000,
        "not clamped to max_ttl"
    );
    assert!(answer.expires_at_ms >= now_ms() + hour - 60_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_stale_replayed_and_unknown_requests_are_unauthenticated() {
    let cluster = authority_only();
    let mut client = cluster.authority_client().await.unwrap();
    let fresh = || body("t", &[("fs.read", "")], now_ms());

    let forged = signed::sign(
        "RequestGrant",
        &fresh(),
        "coder-1",
        &cluster.other_agent_key,
    );
    let mut unsigned = signed::sign("RequestGrant", &fresh(), "coder-1", &cluster.agent_key);
    unsigned.signature.clear();
    let stale = signed::sign(
        "RequestGrant",
        &body("t", &[("fs.read", "")], now_ms() - 5 * 60_000),
        "coder-1",
        &cluster.agent_key,
    );
    let future = signed::sign(
        "RequestGrant",
        &body("t", &[("fs.read", "")], now_ms() + 5 * 60_000),
        "coder-1",
        &cluster.agent_key,
    );
    let unknown = signed::sign("RequestGrant", &fresh(), "ghost", &cluster.agent_key);
    let mut impersonation = fresh();
    impersonation.agent_id = "coder-1".into();
    let impersonation = signed::sign(
        "RequestGrant",
        &impersonation,
        "intruder",
        &cluster.other_agent_key,
    );
    let mut tampered = signed::sign("RequestGrant", &fresh(), "coder-1", &cluster.agent_key);
    let last = tampered.body.len() - 1;
    tampered.body[last] ^= 0x01;
    let wrong_rpc = signed::sign("RevokeGrant", &fresh(), "coder-1", &cluster.agent_key);

    for (name, request) in [
        ("forged", forged),
        ("unsigned", unsigned),
        ("stale", stale),
        ("future", future),
        ("unknown agent", unknown),
        ("impersonation", impersonation),
        ("tampered body", tampered),
        ("signed for another rpc", wrong_rpc),
    ] {
        let err = client.send_grant_request(request).await.unwrap_err();
        assert_eq!(code(&err), "Unauthenticated", "{name}: {err}");
    }

    let once = signed::sign("RequestGrant", &fresh(), "coder-1", &cluster.agent_key);
    let first = client.send_grant_request(once.clone()).await.unwrap();
    assert_eq!(first.effect, Effect::Allow);
    let replay = client.send_grant_request(once).await.unwrap_err();
    assert_eq!(code(&replay), "Unauthenticated", "replay: {replay}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_invalid_arguments() {
    let cluster = authority_only();
    let mut client = cluster.authority_client().await.unwrap();
    let mut long_task = body("t", &[("fs.read", "")], now_ms());
    long_task.task = "x".repeat(10_000);
    let mut no_user = body("t", &[("fs.read", "")], now_ms());
    no_user.user.clear();
    let mut bad_holder = body("t", &[("fs.read", "")], now_ms());
    bad_holder.holder_key = vec![1, 2, 3];
    let mut many_scopes = body("t", &[], now_ms());
    many_scopes.scopes = (0..100)
        .map(|i| apb::Scope {
            operation: "fs.read".into(),
            resource: format!("f{i}"),
        })
        .collect();
    for (name, b) in [
        ("long task", long_task),
        ("no user", no_user),
        ("bad holder", bad_holder),
        ("many scopes", many_scopes),
    ] {
        let request = signed::sign("RequestGrant", &b, "coder-1", &cluster.agent_key);
        let err = client.send_grant_request(request).await.unwrap_err();
        assert_eq!(code(&err), "InvalidArgument", "{name}: {err}");
    }
    let garbage = trust_proto::common::v1::SignedRequest {
        body: vec![0xff; 64],
        signer_id: "coder-1".into(),
        signature: vec![0; 64],
    };
    let err = client.send_grant_request(garbage).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_verify_by_key_id_across_rotation_and_any_flipped_byte_fails() {
    let cluster = authority_only();
    let old = cluster
        .grant("before", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let keys = client.public_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    Biscuit::from(&old, root_key_provider(&keys)).unwrap();

    // Every single byte flipped: parse or signature check must fail.
    for i in 0..old.len() {
        let mut bad = old.clone();
        bad[i] ^= 0x01;
        assert!(
            Biscuit::from(&bad, root_key_provider(&keys)).is_err(),
            "flipping byte {i} still verifies"
        );
    }

    let rotated = client
        .rotate_root_key(&cluster.admin_id, &cluster.admin_key)
        .await
        .unwrap();
    assert_eq!(rotated.len(), 2);
    assert!(rotated.iter().any(|(id, _, active)| *id == 2 && *active));
    let new = cluster
        .grant("after", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let new_token = Biscuit::from(&new, root_key_provider(&rotated)).unwrap();
    assert_eq!(new_token.root_key_id(), Some(2));
    let old_token = Biscuit::from(&old, root_key_provider(&rotated)).unwrap();
    assert_eq!(old_token.root_key_id(), Some(1));
    // The new grant does not verify with the old key alone.
    let only_old: Vec<_> = rotated
        .iter()
        .filter(|(id, _, _)| *id == 1)
        .cloned()
        .collect();
    assert!(Biscuit::from(&new, root_key_provider(&only_old)).is_err());
    // Rotation needs an admin.
    let err = client
        .rotate_root_key("admin:ops", &cluster.agent_key)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_survives_kill_9_right_after_it_was_returned() {
    let mut cluster = authority_only();
    let answer = cluster.grant("durable", &[("fs.read", "")]).await.unwrap();
    assert_eq!(answer.effect, Effect::Allow);
    cluster.authority.kill9();
    cluster.authority.restart(None).unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let record = client
        .get_grant(&cluster.admin_id, &cluster.admin_key, &answer.grant_id)
        .await
        .unwrap();
    assert_eq!(record.grant_id, answer.grant_id);
    assert_eq!(record.task, "durable");
    assert_eq!(record.agent_id, "coder-1");
    assert_eq!(record.revocation_ids.len(), 1);
    assert!(!record.revoked);
    // The same key still signs after restart: the old grant verifies with the served keys.
    let keys = client.public_keys().await.unwrap();
    Biscuit::from(answer.grant.as_ref().unwrap(), root_key_provider(&keys)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_listed_for_executors_and_needs_an_admin() {
    let cluster = authority_only();
    let answer = cluster
        .grant("revoke-me", &[("fs.read", "")])
        .await
        .unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let err = client
        .revoke_grant("admin:ops", &cluster.agent_key, &answer.grant_id, "nope")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated");
    let revoked = client
        .revoke_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &answer.grant_id,
            "test",
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_ids, 1);
    // The feed is served to the executor's client certificate only.
    let mut feed = cluster.feed_client().await.unwrap();
    let list = feed.list_revocations(0).await.unwrap();
    assert_eq!(list.latest_sequence, revoked.sequence);
    let token = Biscuit::from(
        answer.grant.as_ref().unwrap(),
        root_key_provider(&client.public_keys().await.unwrap()),
    )
    .unwrap();
    assert_eq!(
        list.revocations[0].revocation_id,
        token.revocation_identifiers()[0]
    );
    assert!(feed
        .list_revocations(revoked.sequence)
        .await
        .unwrap()
        .revocations
        .is_empty());
    let err = client
        .revoke_grant(&cluster.admin_id, &cluster.admin_key, "no-such-grant", "x")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_profile_stops_start_up_with_every_error_listed() {
    let cluster = authority_only();
    let profile = cluster.path("profiles/coding.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    let broken = text
        .replace("max_ttl = \"1h\"", "max_ttl = \"48h\"")
        .replace(
            "operations = [\"fs.read\", \"fs.list\", \"fs.search\"]",
            "operations = [\"fs.read\", \"fs.teleport\"]",
        )
        .replace("rule = \"Edit(src/**)\"", "rule = \"Edit(src/**\"");
    std::fs::write(&profile, broken).unwrap();
    let bin = trust_tests::binaries::binary("trust-authority", "trust-authority").unwrap();
    let output = std::process::Command::new(bin)
        .args(["check", "--config"])
        .arg(&cluster.authority_config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["coding.toml:", "48h", "fs.teleport", "Edit(src/**"] {
        assert!(
            stderr.contains(needle),
            "`{needle}` missing from:\n{stderr}"
        );
    }
    assert!(
        stderr.matches("coding.toml:").count() >= 3,
        "every error gets its own line:\n{stderr}"
    );
    let serve = trust_tests::process::ServerProcess::start(
        &trust_tests::binaries::binary("trust-authority", "trust-authority").unwrap(),
        &[
            "serve".into(),
            "--config".into(),
            cluster.authority_config.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ],
        &cluster.path("broken.log"),
    );
    assert!(serve.is_err(), "serve must refuse a malformed profile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_captured_before_a_restart_cannot_be_replayed_after_it() {
    let mut cluster = authority_only();
    let once = signed::sign(
        "RequestGrant",
        &body("t", &[("fs.read", "")], now_ms()),
        "coder-1",
        &cluster.agent_key,
    );
    let mut client = cluster.authority_client().await.unwrap();
    assert_eq!(
        client
            .send_grant_request(once.clone())
            .await
            .unwrap()
            .effect,
        Effect::Allow
    );
    cluster.authority.kill9();
    cluster.authority.restart(None).unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let err = client.send_grant_request(once).await.unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_restarts_after_revoking_and_keeps_the_revocation() {
    let mut cluster = authority_only();
    let answer = cluster
        .grant("revoke-then-restart", &[("fs.read", "")])
        .await
        .unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    client
        .revoke_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &answer.grant_id,
            "test",
        )
        .await
        .unwrap();
    cluster.authority.kill9();
    cluster.authority.restart(None).unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    assert_eq!(
        cluster
            .feed_client()
            .await
            .unwrap()
            .list_revocations(0)
            .await
            .unwrap()
            .revocations
            .len(),
        1
    );
    let record = client
        .get_grant(&cluster.admin_id, &cluster.admin_key, &answer.grant_id)
        .await
        .unwrap();
    assert!(record.revoked);
}
