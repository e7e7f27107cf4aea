//! Derived grants for sub-agents over real servers: narrowing, re-binding, depth, lineage, revocation.

use std::time::{Duration, SystemTime};

use biscuit_auth::Biscuit;
use ed25519_dalek::SigningKey;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::root_key_provider;
use trust_sdk::derive::{derive, Derivation};
use trust_sdk::provenance::ProvenanceEntry;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

struct Chain {
    cluster: Cluster,
    root: Biscuit,
    root_id: String,
    /// keys[0] is the orchestrator (coder-1); keys[i] holds level i.
    keys: Vec<SigningKey>,
    /// levels[i] is the grant at delegation depth i (levels[0] = root).
    levels: Vec<Biscuit>,
    ids: Vec<String>,
}

fn narrowing(ops: &[&str], prefixes: &[&str]) -> Derivation {
    Derivation {
        narrowing: Attenuation {
            operations: Some(ops.iter().map(|s| s.to_string()).collect()),
            prefixes: Some(prefixes.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        },
        purpose: "subtask".into(),
        derived_id: None,
    }
}

async fn chain(depth: usize, options: ClusterOptions) -> Chain {
    let cluster = Cluster::start(options).unwrap();
    let answer = cluster
        .grant(
            "delegate",
            &[
                ("fs.read", ""),
                ("fs.list", ""),
                ("fs.write", "src/"),
                ("proc.run", "test"),
            ],
        )
        .await
        .unwrap();
    let mut authority = cluster.authority_client().await.unwrap();
    let keys = authority.public_keys().await.unwrap();
    let root = Biscuit::from(answer.grant.as_ref().unwrap(), root_key_provider(&keys)).unwrap();
    let mut holders = vec![cluster.agent_key.clone()];
    let mut levels = vec![root.clone()];
    let mut ids = vec![answer.grant_id.clone()];
    let steps: [Derivation; 8] = [
        narrowing(&["fs.read", "fs.list", "fs.write"], &["src"]),
        narrowing(&["fs.read", "fs.write"], &["src"]),
        narrowing(&["fs.read", "fs.write"], &["src/deep"]),
        narrowing(&["fs.read"], &["src/deep"]),
        narrowing(&["fs.read"], &["src/deep"]),
        narrowing(&["fs.read"], &["src/deep"]),
        narrowing(&["fs.read"], &["src/deep"]),
        narrowing(&["fs.read"], &["src/deep"]),
    ];
    for step in steps.iter().take(depth) {
        let child = trust_sdk::keys::generate();
        let derived = derive(
            levels.last().unwrap(),
            holders.last().unwrap(),
            &child.verifying_key(),
            step,
        )
        .unwrap();
        ids.push(derived.derived_id.clone());
        levels.push(derived.token);
        holders.push(child);
    }
    std::fs::create_dir_all(cluster.workspace.join("src/deep")).unwrap();
    std::fs::write(cluster.workspace.join("src/deep/notes.txt"), b"deep notes").unwrap();
    Chain {
        root_id: answer.grant_id,
        root,
        keys: holders,
        levels,
        ids,
        cluster,
    }
}

fn bytes(t: &Biscuit) -> Vec<u8> {
    t.to_vec().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_agent_can_do_exactly_what_the_narrowing_allows() {
    let c = chain(1, ClusterOptions::default()).await;
    let (child, child_key) = (bytes(&c.levels[1]), &c.keys[1]);
    let mut exec = c.cluster.executor_client().await.unwrap();
    exec.execute(&child, child_key, read("src/calc.sh"))
        .await
        .unwrap();
    exec.execute(&child, child_key, list("src")).await.unwrap();
    exec.execute(&child, child_key, write("src/by-child.txt", b"hi"))
        .await
        .unwrap();
    // Operation outside the narrowing (the parent could run the tests).
    let err = exec
        .execute(&child, child_key, run("test"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(
        err.to_string().contains("block 1"),
        "the failing block is named: {err}"
    );
    // Path outside the narrowing (the parent may read the whole workspace).
    let err = exec
        .execute(&child, child_key, read("README.md"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("block 1"), "{err}");
    // The parent grant itself still works for its holder.
    exec.execute(&bytes(&c.root), &c.keys[0], read("README.md"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_of_the_narrowing_is_enforced() {
    let c = chain(0, ClusterOptions::default()).await;
    let child_key = trust_sdk::keys::generate();
    let soon =
        SystemTime::UNIX_EPOCH + Duration::from_millis(trust_sdk::client::now_ms() as u64 + 1_000);
    let d = Derivation {
        narrowing: Attenuation {
            expires_at: Some(soon),
            ..Default::default()
        },
        purpose: "short".into(),
        derived_id: None,
    };
    let child = derive(&c.root, &c.keys[0], &child_key.verifying_key(), &d)
        .unwrap()
        .token;
    let mut exec = c.cluster.executor_client().await.unwrap();
    exec.execute(&bytes(&child), &child_key, read("src/calc.sh"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = exec
        .execute(&bytes(&child), &child_key, read("src/calc.sh"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    assert!(err.to_string().contains("expir"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_must_match_the_chain() {
    let c = chain(1, ClusterOptions::default()).await;
    let mut exec = c.cluster.executor_client().await.unwrap();
    // The parent's grant without the parent's proof (the sub-agent's key instead).
    let err = exec
        .execute(&bytes(&c.root), &c.keys[1], read("src/calc.sh"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    // The child's grant proved with the parent's key.
    let err = exec
        .execute(&bytes(&c.levels[1]), &c.keys[0], read("src/calc.sh"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    // A stranger.
    let err = exec
        .execute(
            &bytes(&c.levels[1]),
            &trust_sdk::keys::generate(),
            read("src/calc.sh"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widening_is_refused_by_the_sdk_and_if_forced_by_the_executor() {
    let c = chain(1, ClusterOptions::default()).await;
    let grandchild = trust_sdk::keys::generate();
    let wider = narrowing(&["fs.read", "proc.run"], &["src"]);
    let err = derive(
        &c.levels[1],
        &c.keys[1],
        &grandchild.verifying_key(),
        &wider,
    )
    .unwrap_err();
    assert!(matches!(err, trust_sdk::SdkError::Widening(_)), "{err}");
    let outside = narrowing(&["fs.read"], &[""]);
    assert!(matches!(
        derive(
            &c.levels[1],
            &c.keys[1],
            &grandchild.verifying_key(),
            &outside
        ),
        Err(trust_sdk::SdkError::Widening(_))
    ));
    let dotdot = narrowing(&["fs.read"], &["src/../README.md"]);
    assert!(derive(
        &c.levels[1],
        &c.keys[1],
        &grandchild.verifying_key(),
        &dotdot
    )
    .is_err());
    // Not the holder: the orchestrator cannot derive from the sub-agent's grant.
    assert!(derive(
        &c.levels[1],
        &c.keys[0],
        &grandchild.verifying_key(),
        &narrowing(&["fs.read"], &["src"])
    )
    .is_err());

    // Forced by hand: a delegation block that claims the whole workspace.
    let forced_block = trust_sdk::derive::delegation_block(
        &c.keys[1].verifying_key(),
        &grandchild.verifying_key(),
        "forced",
        &c.ids[1],
        &narrowing(&["fs.read", "proc.run"], &[""]),
    )
    .unwrap();
    let request = c.levels[1].third_party_request().unwrap();
    let signed = request
        .create_block(
            &trust_sdk::keys::to_biscuit_private(&c.keys[1]).unwrap(),
            forced_block,
        )
        .unwrap();
    let forced = c.levels[1]
        .append_third_party(
            trust_sdk::keys::to_biscuit_public(&c.keys[1].verifying_key()).unwrap(),
            signed,
        )
        .unwrap();
    let mut exec = c.cluster.executor_client().await.unwrap();
    for op in [read("README.md"), run("test")] {
        let err = exec
            .execute(&bytes(&forced), &grandchild, op)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "{err}");
        assert!(
            err.to_string().contains("block 1"),
            "the parent's narrowing block still binds: {err}"
        );
    }
    exec.execute(&bytes(&forced), &grandchild, read("src/calc.sh"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_levels_work_and_a_fifth_past_the_maximum_is_refused() {
    let c = chain(5, ClusterOptions::default()).await;
    let mut exec = c.cluster.executor_client().await.unwrap();
    for level in 1..=4 {
        let got = exec
            .execute(
                &bytes(&c.levels[level]),
                &c.keys[level],
                read("src/deep/notes.txt"),
            )
            .await
            .unwrap_or_else(|e| panic!("level {level}: {e}"));
        assert!(got.result.is_some());
        // Each level is bound to its own key: the level above cannot use it.
        let err = exec
            .execute(
                &bytes(&c.levels[level]),
                &c.keys[level - 1],
                read("src/deep/notes.txt"),
            )
            .await
            .unwrap_err();
        assert_eq!(
            code(&err),
            "Unauthenticated",
            "level {level} with its parent's key: {err}"
        );
    }
    let err = exec
        .execute(&bytes(&c.levels[5]), &c.keys[5], read("src/deep/notes.txt"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("delegation-depth"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_level_one_refuses_levels_two_to_four_and_lineage_is_recorded() {
    let c = chain(4, ClusterOptions::default()).await;
    let mut authority = c.cluster.authority_client().await.unwrap();
    let registered = authority
        .register_derived(
            &c.cluster.agent_id,
            &c.cluster.agent_key,
            &bytes(&c.levels[4]),
        )
        .await
        .unwrap();
    assert_eq!(registered.registered_grant_ids, c.ids[1..].to_vec());
    assert_eq!(registered.depth, 4);
    let record = authority
        .get_grant(&c.cluster.admin_id, &c.cluster.admin_key, &c.ids[2])
        .await
        .unwrap();
    assert_eq!(record.parent_grant_id, c.ids[1]);

    let mut exec = c.cluster.executor_client().await.unwrap();
    for level in 1..=4 {
        exec.execute(
            &bytes(&c.levels[level]),
            &c.keys[level],
            read("src/deep/notes.txt"),
        )
        .await
        .unwrap();
    }
    authority
        .revoke_grant(
            &c.cluster.admin_id,
            &c.cluster.admin_key,
            &c.ids[1],
            "level 1 compromised",
        )
        .await
        .unwrap();
    // Applied by the running executor's revocation sync (100 ms poll).
    let mut refused = [false; 5];
    for _ in 0..60 {
        for (level, done) in refused.iter_mut().enumerate().skip(1) {
            if !*done {
                *done = exec
                    .execute(
                        &bytes(&c.levels[level]),
                        &c.keys[level],
                        read("src/deep/notes.txt"),
                    )
                    .await
                    .is_err();
            }
        }
        if refused[1..].iter().all(|r| *r) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused[1..].iter().all(|r| *r),
        "levels still served: {refused:?}"
    );
    // The root grant is untouched.
    exec.execute(&bytes(&c.root), &c.keys[0], read("README.md"))
        .await
        .unwrap();

    // Provenance names the full lineage of what it saw.
    let lines = exec
        .export_provenance(&c.cluster.auditor_id, &c.cluster.auditor_key, 0)
        .await
        .unwrap();
    let deep = lines
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r)
                    if r.kind.has_outcome() && r.grant_id.as_deref() == Some(&c.ids[4]) =>
                {
                    Some(r)
                }
                _ => None,
            },
        )
        .next()
        .expect("an outcome for the level-4 grant");
    assert_eq!(deep.lineage, c.ids);
    let _ = &c.root_id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_outside_the_narrowing_is_refused_naming_the_block() {
    let c = chain(0, ClusterOptions::default()).await;
    let child_key = trust_sdk::keys::generate();
    let no_commands = Derivation {
        narrowing: Attenuation {
            operations: Some(vec!["fs.read".into(), "proc.run".into()]),
            commands: Some(vec![]),
            ..Default::default()
        },
        purpose: "read only, no commands".into(),
        derived_id: None,
    };
    let child = derive(
        &c.root,
        &c.keys[0],
        &child_key.verifying_key(),
        &no_commands,
    )
    .unwrap()
    .token;
    let mut exec = c.cluster.executor_client().await.unwrap();
    let err = exec
        .execute(&bytes(&child), &child_key, run("test"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("block 1"), "{err}");
    exec.execute(&bytes(&child), &child_key, read("src/calc.sh"))
        .await
        .unwrap();
    // The parent may run it.
    exec.execute(&bytes(&c.root), &c.keys[0], run("test"))
        .await
        .unwrap();
}

/// A hand-made delegation block from `c.keys[1]` under the id `id`, appended to level 1.
fn forced_hop(c: &Chain, to: &SigningKey, id: &str, parent: &str) -> Biscuit {
    let block = trust_sdk::derive::delegation_block(
        &c.keys[1].verifying_key(),
        &to.verifying_key(),
        id,
        parent,
        &narrowing(&["fs.read"], &["src"]),
    )
    .unwrap();
    let signed = c.levels[1]
        .third_party_request()
        .unwrap()
        .create_block(
            &trust_sdk::keys::to_biscuit_private(&c.keys[1]).unwrap(),
            block,
        )
        .unwrap();
    c.levels[1]
        .append_third_party(
            trust_sdk::keys::to_biscuit_public(&c.keys[1].verifying_key()).unwrap(),
            signed,
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_ids_are_unique_in_the_lineage_and_in_the_registry() {
    let c = chain(1, ClusterOptions::default()).await;
    let grandchild = trust_sdk::keys::generate();
    // The SDK refuses to derive under an id already in the lineage.
    let mut reuse = narrowing(&["fs.read"], &["src"]);
    reuse.derived_id = Some(c.root_id.clone());
    let err = derive(
        &c.levels[1],
        &c.keys[1],
        &grandchild.verifying_key(),
        &reuse,
    )
    .unwrap_err();
    assert!(err.to_string().contains("reuses the grant id"), "{err}");

    // Forced by hand, the executor refuses the same chain (and a malformed id), and records it.
    let mut exec = c.cluster.executor_client().await.unwrap();
    for (id, parent, expected) in [
        (c.root_id.as_str(), c.ids[1].as_str(), "reuses the grant id"),
        (c.ids[1].as_str(), c.ids[1].as_str(), "reuses the grant id"),
        (
            "not an id!",
            c.ids[1].as_str(),
            "malformed derived grant id",
        ),
        ("fresh-id", c.root_id.as_str(), "expected"),
    ] {
        let forced = forced_hop(&c, &grandchild, id, parent);
        let err = exec
            .execute(&bytes(&forced), &grandchild, read("src/calc.sh"))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "Unauthenticated", "{id}: {err}");
        assert!(err.to_string().contains(expected), "{id}: {err}");
    }
    let lines = exec
        .export_provenance(&c.cluster.auditor_id, &c.cluster.auditor_key, 0)
        .await
        .unwrap();
    let refused_chains = lines
        .iter()
        .filter(|l| {
            matches!(
                serde_json::from_str::<ProvenanceEntry>(l).unwrap(),
                ProvenanceEntry::Record(r) if r.reasons.iter().any(|x| x.contains("delegation-chain"))
            )
        })
        .count();
    assert!(
        refused_chains >= 4,
        "every refusal is recorded: {refused_chains}"
    );

    // The authority: the same chain twice is fine; another grant under a taken id is refused.
    let mut authority = c.cluster.authority_client().await.unwrap();
    let agent = (&c.cluster.agent_id, &c.cluster.agent_key);
    authority
        .register_derived(agent.0, agent.1, &bytes(&c.levels[1]))
        .await
        .unwrap();
    let again = authority
        .register_derived(agent.0, agent.1, &bytes(&c.levels[1]))
        .await
        .unwrap();
    assert!(again.registered_grant_ids.is_empty());
    let other_child = trust_sdk::keys::generate();
    let mut same_id = narrowing(&["fs.read"], &["src"]);
    same_id.derived_id = Some(c.ids[1].clone());
    let impostor = derive(&c.root, &c.keys[0], &other_child.verifying_key(), &same_id).unwrap();
    let err = authority
        .register_derived(agent.0, agent.1, &bytes(&impostor.token))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AlreadyExists", "{err}");
}

fn run_in(command: &str, cwd: &str) -> trust_proto::executor::v1::invocation::Operation {
    trust_proto::executor::v1::invocation::Operation::Run(trust_proto::executor::v1::RunRequest {
        command: command.into(),
        cwd: cwd.into(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_command_runs_is_part_of_what_the_grant_authorizes() {
    let c = chain(0, ClusterOptions::default()).await;
    let child_key = trust_sdk::keys::generate();
    let narrowed = derive(
        &c.root,
        &c.keys[0],
        &child_key.verifying_key(),
        &Derivation {
            narrowing: Attenuation {
                operations: Some(vec!["fs.read".into(), "proc.run".into()]),
                prefixes: Some(vec!["src".into()]),
                commands: Some(vec!["test".into()]),
                ..Default::default()
            },
            purpose: "run the tests from src only".into(),
            derived_id: None,
        },
    )
    .unwrap();
    let mut exec = c.cluster.executor_client().await.unwrap();
    // The sub-agent narrowed to `src` cannot run the parent's command from elsewhere.
    for cwd in ["", "tests", "secrets"] {
        let err = exec
            .execute(&bytes(&narrowed.token), &child_key, run_in("test", cwd))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "PermissionDenied", "cwd `{cwd}`: {err}");
    }
    // From within its prefix the command is admitted (and runs in the sandbox).
    exec.execute(&bytes(&narrowed.token), &child_key, run_in("test", "src"))
        .await
        .unwrap();
    // The root grant runs from anywhere in the workspace, but not from a denied directory.
    let root = bytes(&c.root);
    std::fs::create_dir_all(c.cluster.workspace.join("secrets")).unwrap();
    let err = exec
        .execute(&root, &c.keys[0], run_in("test", "secrets"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    assert!(err.to_string().contains("deny-rule"), "{err}");
    let err = exec
        .execute(&root, &c.keys[0], run_in("test", "../"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PermissionDenied", "{err}");
    exec.execute(&root, &c.keys[0], run_in("test", ""))
        .await
        .unwrap();
}
