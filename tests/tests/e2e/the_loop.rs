//! The core loop: grant → read, patch, run tests → refusal outside the grant → provenance verifies.

use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_read_patch_test_and_audit() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let answer = cluster
        .grant(
            "fix-add",
            &[("fs.read", ""), ("fs.patch", "src/"), ("proc.run", "test")],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.clone().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();

    let before = exec
        .execute(&grant, &cluster.agent_key, run("test"))
        .await
        .unwrap();
    let Some(R::Run(before)) = before.result else {
        panic!("not a run result")
    };
    assert_eq!(
        before.exit_code,
        1,
        "{}",
        String::from_utf8_lossy(&before.stdout)
    );

    let read_back = exec
        .execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .unwrap();
    let Some(R::Read(r)) = read_back.result else {
        panic!("not a read result")
    };
    assert!(String::from_utf8_lossy(&r.data).contains("$1 - $2"));

    let patched = exec
        .execute(&grant, &cluster.agent_key, patch(FIX_ADD))
        .await
        .unwrap();
    assert!(matches!(patched.result, Some(R::Patch(_))));
    let after = exec
        .execute(&grant, &cluster.agent_key, run("test"))
        .await
        .unwrap();
    let Some(R::Run(after)) = after.result else {
        panic!("not a run result")
    };
    assert_eq!(
        after.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );

    let secret = exec
        .execute(&grant, &cluster.agent_key, read(".env"))
        .await
        .unwrap_err();
    assert_eq!(code(&secret), "PermissionDenied", "{secret}");

    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let (_, key) = exec.identity().await.unwrap();
    let text = lines.join("\n");
    let summary =
        trust_sdk::provenance::verify_jsonl(std::io::Cursor::new(text), &key, false).unwrap();
    // Two runs and a patch: an intent and an outcome each; the read: one read-only record; the
    // refused read: one refusal.
    assert!(summary.records >= 8, "{summary:?}");
}
