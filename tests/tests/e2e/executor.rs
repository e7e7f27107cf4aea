//! The executor over real gRPC: every operation with its provenance, crash durability, fail-closed states.

use std::time::Duration;

use prost::Message;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord, RecordKind, READ_ONLY_OPERATIONS};
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

async fn export(cluster: &Cluster) -> Vec<ProvenanceEntry> {
    let mut exec = cluster.executor_client().await.unwrap();
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let (_, key) = exec.identity().await.unwrap();
    trust_sdk::provenance::verify_jsonl(std::io::Cursor::new(lines.join("\n")), &key, false)
        .unwrap();
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn records(entries: &[ProvenanceEntry]) -> Vec<ProvenanceRecord> {
    entries
        .iter()
        .filter_map(|e| match e {
            ProvenanceEntry::Record(r) => Some(r.clone()),
            ProvenanceEntry::Checkpoint(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_and_leaves_its_records() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let scopes = [
        ("fs.read", ""),
        ("fs.list", ""),
        ("fs.search", ""),
        ("fs.write", "src/"),
        ("fs.patch", "src/"),
        ("proc.run", "test"),
    ];
    let answer = cluster.grant("all-ops", &scopes).await.unwrap();
    let grant = answer.grant.clone().unwrap();
    let key = &cluster.agent_key;
    let mut exec = cluster.executor_client().await.unwrap();

    let listed = exec.execute(&grant, key, list("")).await.unwrap();
    let Some(R::List(l)) = listed.result else {
        panic!()
    };
    let paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"src/calc.sh") && paths.contains(&"run-tests.sh"),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&".env"),
        "a denied path was listed: {paths:?}"
    );

    let found = exec
        .execute(&grant, key, search("", "API_TOKEN"))
        .await
        .unwrap();
    let Some(R::Search(s)) = found.result else {
        panic!()
    };
    assert!(
        s.matches.is_empty(),
        "search leaked a denied file: {:?}",
        s.matches
    );
    let found = exec
        .execute(&grant, key, search("src", "mul"))
        .await
        .unwrap();
    let Some(R::Search(s)) = found.result else {
        panic!()
    };
    assert_eq!(s.matches.len(), 1);
    assert_eq!(s.matches[0].path, "src/calc.sh");

    let ranged = exec
        .execute(
            &grant,
            key,
            Op::Read(pb::ReadRequest {
                path: "src/calc.sh".into(),
                offset: 2,
                length: 5,
            }),
        )
        .await
        .unwrap();
    let Some(R::Read(r)) = ranged.result else {
        panic!()
    };
    assert_eq!(r.data, b"A tin");
    assert!(r.truncated);

    let created = exec
        .execute(&grant, key, write("src/new.txt", b"one"))
        .await
        .unwrap();
    let Some(R::Write(w)) = created.result else {
        panic!()
    };
    assert!(w.created);
    assert_eq!(
        std::fs::read(cluster.workspace.join("src/new.txt")).unwrap(),
        b"one"
    );
    let stale = Op::Write(pb::WriteRequest {
        path: "src/new.txt".into(),
        content: b"two".to_vec(),
        expected_sha256: "00".repeat(32),
        create_only: false,
    });
    let err = exec.execute(&grant, key, stale).await.unwrap_err();
    assert_eq!(code(&err), "FailedPrecondition", "{err}");
    let replace = Op::Write(pb::WriteRequest {
        path: "src/new.txt".into(),
        content: b"two".to_vec(),
        expected_sha256: w.sha256.clone(),
        create_only: false,
    });
    exec.execute(&grant, key, replace).await.unwrap();
    assert_eq!(
        std::fs::read(cluster.workspace.join("src/new.txt")).unwrap(),
        b"two"
    );

    let bad_patch = FIX_ADD.replace("$1 - $2", "$1 / $2");
    let err = exec
        .execute(&grant, key, patch(&bad_patch))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "FailedPrecondition", "{err}");
    exec.execute(&grant, key, patch(FIX_ADD)).await.unwrap();
    let ran = exec.execute(&grant, key, run("test")).await.unwrap();
    let Some(R::Run(run)) = ran.result else {
        panic!()
    };
    assert_eq!(run.exit_code, 0, "{}", String::from_utf8_lossy(&run.stdout));

    let records = records(&export(&cluster).await);
    for op in [
        "fs.list",
        "fs.search",
        "fs.read",
        "fs.write",
        "fs.patch",
        "proc.run",
    ] {
        let read_only = READ_ONLY_OPERATIONS.contains(&op);
        let of = |kind: RecordKind| {
            records
                .iter()
                .filter(|r| r.operation == op && r.kind == kind)
                .collect::<Vec<_>>()
        };
        let (intents, outcomes, singles) = (
            of(RecordKind::Intent),
            of(RecordKind::Outcome),
            of(RecordKind::ReadOnly),
        );
        let completed = if read_only {
            // A read-only operation: one record per execution, never an intent/outcome pair.
            assert!(
                intents.is_empty() && outcomes.is_empty() && !singles.is_empty(),
                "{op}: {} intents, {} outcomes, {} read_only records",
                intents.len(),
                outcomes.len(),
                singles.len()
            );
            for r in &singles {
                assert_eq!(r.intent_sequence, None, "{op}: {r:?}");
                assert_eq!(r.decision, "allow");
                assert!(r.status.is_some() && r.duration_us.is_some(), "{r:?}");
            }
            singles
        } else {
            // Side effects: a durable intent before running, an outcome pointing back to it.
            assert!(
                singles.is_empty() && !intents.is_empty() && intents.len() == outcomes.len(),
                "{op}: {} intents, {} outcomes, {} read_only records",
                intents.len(),
                outcomes.len(),
                singles.len()
            );
            for o in &outcomes {
                let intent = o.intent_sequence.expect("an outcome names its intent");
                assert!(intent < o.sequence);
                assert!(
                    intents
                        .iter()
                        .any(|i| i.sequence == intent && i.request_id == o.request_id),
                    "{op}: outcome {} has no intent {intent}",
                    o.sequence
                );
                assert!(o.duration_us.is_some());
            }
            outcomes
        };
        for o in completed {
            assert_eq!(o.grant_id.as_deref(), Some(answer.grant_id.as_str()));
            assert_eq!(o.task.as_deref(), Some("all-ops"));
            assert_eq!(o.agent.as_deref(), Some("coder-1"));
            assert_eq!(o.user.as_deref(), Some("alice"));
            assert!(
                o.reasons.contains(&"holder-proof".to_string()),
                "{:?}",
                o.reasons
            );
        }
    }
    // A successful read's record carries the digest and size of what was returned.
    let read = records
        .iter()
        .find(|r| r.operation == "fs.read" && r.status.as_deref() == Some("ok"))
        .unwrap();
    assert!(read.outcome_digest.is_some() && read.outcome_size.is_some());
    // Written content never lands in provenance, only its size and digest.
    let write_record = records.iter().find(|r| r.operation == "fs.write").unwrap();
    assert!(write_record.parameters.get("content").is_none());
    assert_eq!(write_record.parameters["content_bytes"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_execution_survives_kill_9_of_the_executor() {
    let mut cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let grant = cluster
        .grant("crash", &[("fs.write", "src/"), ("fs.read", "src/")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let done = exec
        .execute(&grant, &cluster.agent_key, write("src/crash.txt", b"acked"))
        .await
        .unwrap();
    let read_done = exec
        .execute(&grant, &cluster.agent_key, read("src/crash.txt"))
        .await
        .unwrap();
    cluster.executor.as_mut().unwrap().kill9();
    cluster.start_executor().unwrap();
    let records = records(&export(&cluster).await);
    for (done, kind) in [
        (&done, RecordKind::Outcome),
        (&read_done, RecordKind::ReadOnly),
    ] {
        let record = records
            .iter()
            .find(|r| r.sequence == done.provenance_sequence)
            .expect("acknowledged record lost");
        assert_eq!(record.kind, kind);
        assert_eq!(record.request_id, done.request_id);
        assert_eq!(record.status.as_deref(), Some("ok"));
    }
}

fn chattr(flag: &str, path: &std::path::Path) -> bool {
    std::process::Command::new("chattr")
        .args(["-R", flag])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_data_directory_refuses_executions_then_recovers_by_itself() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let grant = cluster
        .grant("ro", &[("fs.write", "src/")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, write("src/a.txt", b"1"))
        .await
        .unwrap();
    let data = cluster.path("executor-data/provenance");
    // Root ignores permission bits, so make the files immutable instead (ext4/xfs/btrfs).
    if !chattr("+i", &data) {
        eprintln!(
            "SKIP: `chattr +i` is not supported here; cannot make the data directory unwritable"
        );
        return;
    }
    let err = exec
        .execute(&grant, &cluster.agent_key, write("src/b.txt", b"2"))
        .await
        .unwrap_err();
    let status = code(&err);
    chattr("-i", &data);
    assert_eq!(status, "Unavailable", "{err}");
    assert!(
        !cluster.workspace.join("src/b.txt").exists(),
        "the write ran without its intent record"
    );
    // Once the directory is writable again the log reopens its store by itself (every 500 ms)
    // and serves again; until then every execution is refused.
    let mut recovered = false;
    for _ in 0..50 {
        match exec
            .execute(&grant, &cluster.agent_key, write("src/c.txt", b"3"))
            .await
        {
            Ok(_) => {
                recovered = true;
                break;
            }
            Err(e) => {
                assert_eq!(code(&e), "Unavailable", "{e}");
                assert!(!cluster.workspace.join("src/c.txt").exists());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(recovered, "the executor did not recover by itself");
    let mut cluster = cluster;
    cluster.start_executor().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, write("src/d.txt", b"4"))
        .await
        .unwrap();
    export(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_authority_gone_the_executor_serves_until_the_staleness_bound_then_refuses() {
    let mut cluster = Cluster::start(ClusterOptions {
        revocation_max_staleness_secs: 2,
        ..Default::default()
    })
    .unwrap();
    let grant = cluster
        .grant("away", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    cluster.authority.kill9();
    exec.execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .expect("cached keys should still serve");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let err = exec
        .execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unavailable", "{err}");
    assert!(err.to_string().contains("revocation"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_is_refused_by_a_running_executor() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let answer = cluster.grant("revoke", &[("fs.read", "")]).await.unwrap();
    let keep = cluster
        .grant("keep", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let grant = answer.grant.unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .unwrap();
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .revoke_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &answer.grant_id,
            "test",
        )
        .await
        .unwrap();
    let mut refused = None;
    for _ in 0..50 {
        match exec
            .execute(&grant, &cluster.agent_key, read("src/calc.sh"))
            .await
        {
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("revocation never reached the executor");
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    assert!(err.to_string().contains("revo"), "{err}");
    exec.execute(&keep, &cluster.agent_key, read("src/calc.sh"))
        .await
        .expect("an unrelated grant was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rpcs_need_an_auditor_signature() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let err = exec
        .export_provenance("auditor:ops", &cluster.agent_key, 0)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let err = exec
        .export_provenance("auditor:nobody", &cluster.auditor_key, 0)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "Unauthenticated", "{err}");
    let _ = pb::Invocation::default().encode_to_vec();
}
