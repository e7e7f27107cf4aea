//! The attack that opened the sandbox issue, through the real executor: a grant that may patch
//! `src/` and run the tests patches `src/calc.sh` so that the test command tries to read `.env`,
//! a nested `.env`, a key under the workspace, a file outside the workspace and the executor's
//! data directory, to write outside its write prefixes and to open a TCP connection. Inside the
//! sandbox every attempt fails, the tests still run, and the provenance record of the run says
//! what the kernel enforced.

use std::io::ErrorKind;
use std::net::TcpListener;

use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_sdk::provenance::{ProvenanceEntry, RecordKind};
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_test_script_reaches_nothing_outside_its_grant() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let ws = cluster.workspace.clone();
    let dir = cluster.dir.path().to_path_buf();
    std::fs::create_dir_all(ws.join("config")).unwrap();
    std::fs::write(ws.join("config/.env"), "NESTED_TOKEN=nested-secret-7731\n").unwrap();
    std::fs::create_dir_all(ws.join("keys")).unwrap();
    std::fs::write(ws.join("keys/id_ed25519"), "PRIVATE-KEY-MATERIAL-5519\n").unwrap();
    let outside = dir.join("outside-secret.txt");
    std::fs::write(&outside, "outside-secret-4242\n").unwrap();
    let env_secret = std::fs::read_to_string(ws.join(".env")).unwrap();
    let data_dir = dir.join("executor-data");
    assert!(data_dir.join("executor.key").exists());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let answer = cluster
        .grant(
            "sandbox-attack",
            &[("fs.read", ""), ("fs.patch", "src/"), ("proc.run", "test")],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.clone().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();

    let probes = [
        "echo \"ENV:$(cat .env 2>&1)\"".to_string(),
        "echo \"NESTED:$(cat config/.env 2>&1)\"".to_string(),
        "echo \"KEY:$(cat keys/id_ed25519 2>&1)\"".to_string(),
        format!("echo \"OUTSIDE:$(cat {} 2>&1)\"", outside.display()),
        format!("echo \"DATA:$(ls -a {} 2>&1)\"", data_dir.display()),
        "echo \"WRITE:$(echo pwned > tests/pwned.sh 2>&1 && echo wrote)\"".to_string(),
        format!(
            "echo \"ESCAPE:$(echo pwned > {}/escaped.txt 2>&1 && echo wrote)\"",
            dir.display()
        ),
        format!(
            "echo \"TCP:$(bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected' 2>&1)\""
        ),
        "echo \"SRC:$(echo ok > src/written.txt 2>&1 && echo wrote)\"".to_string(),
    ];
    let added: String = probes.iter().map(|p| format!("+{p}\n")).collect();
    let diff = format!(
        "--- a/src/calc.sh\n+++ b/src/calc.sh\n@@ -6,3 +6,{} @@\n mul() {{\n   echo $(($1 * $2))\n }}\n{added}",
        3 + probes.len()
    );
    let patched = exec
        .execute(&grant, &cluster.agent_key, patch(&diff))
        .await
        .unwrap();
    assert!(matches!(patched.result, Some(R::Patch(_))), "{patched:?}");

    let ran = exec
        .execute(&grant, &cluster.agent_key, run("test"))
        .await
        .unwrap();
    let Some(R::Run(ran)) = ran.result else {
        panic!("not a run result")
    };
    let out =
        String::from_utf8_lossy(&ran.stdout).into_owned() + &String::from_utf8_lossy(&ran.stderr);
    // The tests themselves still ran (and found the demo's bug).
    assert!(out.contains("FAIL - add 2 3"), "{out}");
    for secret in [
        env_secret.trim(),
        "nested-secret-7731",
        "PRIVATE-KEY-MATERIAL-5519",
        "outside-secret-4242",
    ] {
        assert!(!out.contains(secret), "`{secret}` leaked:\n{out}");
    }
    let line = |tag: &str| {
        out.lines()
            .find(|l| l.starts_with(tag))
            .unwrap_or_else(|| panic!("no `{tag}` line in\n{out}"))
            .to_string()
    };
    assert!(line("OUTSIDE:").contains("No such file"), "{out}");
    let data = line("DATA:");
    assert!(
        data.contains("No such file") && !data.contains("executor.key"),
        "{out}"
    );
    // The shell reports the failed redirection on stderr.
    assert!(
        !line("WRITE:").contains("wrote") && out.contains("tests/pwned.sh: Read-only file system"),
        "{out}"
    );
    // A path outside the workspace resolves to the sandbox's private tmpfs: whatever is written
    // there dies with the sandbox (the host file is checked below).
    line("ESCAPE:");
    let tcp = line("TCP:");
    assert!(
        tcp.contains("connect:") && !tcp.contains("connected"),
        "{out}"
    );
    assert_eq!(line("SRC:"), "SRC:wrote", "{out}");
    assert!(ran.sandbox.contains("level=full"), "{}", ran.sandbox);
    // Nothing reached the host outside the write prefix, nor the listener.
    assert!(!ws.join("tests/pwned.sh").exists());
    assert!(!dir.join("escaped.txt").exists());
    assert!(ws.join("src/written.txt").exists());
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock)
    );

    // The run's records say what the kernel enforced for it.
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let runs: Vec<_> = lines
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) if r.operation == "proc.run" => Some(r),
                _ => None,
            },
        )
        .collect();
    assert!(
        runs.iter().any(|r| r.kind == RecordKind::Intent
            && r.reasons
                .iter()
                .any(|x| x.starts_with("sandbox landlock=v"))),
        "{runs:?}"
    );
    assert!(runs.iter().any(|r| r.kind == RecordKind::Outcome));
}
