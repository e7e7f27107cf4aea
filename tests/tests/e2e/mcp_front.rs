//! `tool-executor mcp` driven by the official Python MCP client (`pip install mcp`, installed
//! by scripts/install-test-tools.sh into target/mcp-venv) against a real cluster over TLS, over
//! stdio and over streamable HTTP: it lists exactly the tools a narrow grant names, a call
//! inside the grant runs, a call outside it is refused naming the failed check (and recorded
//! in provenance, like the gRPC path), and without a grant no tool is listed.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord};
use trust_tests::process::ServerProcess;
use trust_tests::{binaries, Cluster, ClusterOptions};

/// The venv's python, or `None` (the test is skipped) unless `TRUST_REQUIRE_MCP_PYTHON` is set.
fn mcp_python() -> Option<PathBuf> {
    let python = binaries::workspace_root().join("target/mcp-venv/bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import mcp"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("TRUST_REQUIRE_MCP_PYTHON").is_none(),
        "the Python MCP client is required: run scripts/install-test-tools.sh"
    );
    eprintln!(
        "SKIPPED mcp_front: run scripts/install-test-tools.sh to install the Python MCP client"
    );
    None
}

/// Runs tests/mcp_client.py with `plan`; returns what it printed.
fn drive(python: &PathBuf, plan: &Value) -> Value {
    let script = binaries::workspace_root().join("tests/mcp_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(plan.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcp_client.py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tool_names(outcome: &Value) -> Vec<String> {
    outcome["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The calls every run makes: one inside the grant, one outside its paths, one tool it does not
/// name at all.
fn calls() -> Value {
    json!([
        {"name": "fs_read", "arguments": {"path": "src/calc.sh"}},
        {"name": "fs_read", "arguments": {"path": "README.md"}},
        {"name": "fs_write", "arguments": {"path": "src/new.sh", "content": "echo hi\n"}},
    ])
}

/// Checks the three calls' answers: a result with the file, then two precise refusals.
fn check_calls(outcome: &Value) {
    let calls = outcome["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3, "{outcome}");
    let read = &calls[0];
    assert_eq!(read["isError"], json!(false), "{read}");
    let content = read["structured"]["result"]["content"].as_str().unwrap();
    assert!(content.contains("add()"), "{read}");
    assert!(read["structured"]["provenance_sequence"].as_u64().unwrap() > 0);

    let expected = [
        "grant-scope: `README.md` is outside the grant",
        "grant-scope: `src/new.sh` is outside the grant",
    ];
    for (refused, expected) in calls[1..].iter().zip(expected) {
        assert_eq!(refused["isError"], json!(true), "{refused}");
        assert_eq!(refused["structured"]["refused"], json!("PermissionDenied"));
        let message = refused["structured"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(expected),
            "the refusal names its check: {message}"
        );
        assert!(
            refused["text"].as_str().unwrap().contains(message),
            "{refused}"
        );
    }
}

/// The grant's records in provenance: (operation, first resource, decision).
async fn recorded(cluster: &Cluster, grant_id: &str) -> Vec<(String, String, String)> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap()
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) if r.grant_id.as_deref() == Some(grant_id) => Some(r),
                _ => None,
            },
        )
        .map(|r: ProvenanceRecord| {
            (
                r.operation,
                r.resources.first().cloned().unwrap_or_default(),
                r.decision,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_mcp_client_sees_and_uses_only_what_the_grant_allows() {
    let Some(python) = mcp_python() else { return };
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let answer = cluster
        .grant("mcp-narrow", &[("fs.read", "src"), ("fs.list", "src")])
        .await
        .unwrap();
    let grant = answer.grant.clone().unwrap();
    let grant_text = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, &grant);
    let grant_file = cluster.path("mcp-grant.b64");
    std::fs::write(&grant_file, &grant_text).unwrap();
    let key_file = cluster.path("agent.key");
    trust_sdk::keys::save(&cluster.agent_key, &key_file).unwrap();
    let ca = cluster.ca_file().unwrap();
    let bin = binaries::binary("tool-executor", "tool-executor").unwrap();
    let front_args = |grant: Option<&PathBuf>| {
        let mut args = vec![
            "mcp".to_string(),
            "--executor".into(),
            cluster.executor_endpoint(),
            "--authority".into(),
            cluster.authority_endpoint(),
            "--ca".into(),
            ca.display().to_string(),
            "--agent-key".into(),
            key_file.display().to_string(),
        ];
        if let Some(grant) = grant {
            args.extend(["--grant".to_string(), grant.display().to_string()]);
        }
        args
    };
    let command = |args: Vec<String>| {
        let mut command = vec![bin.display().to_string()];
        command.extend(args);
        command
    };

    // stdio, with the grant: exactly fs_read and fs_list, with their schemas.
    let stdio = drive(
        &python,
        &json!({"transport": "stdio", "command": command(front_args(Some(&grant_file))),
                "calls": calls()}),
    );
    assert_eq!(tool_names(&stdio), ["fs_read", "fs_list"], "{stdio}");
    let schema = &stdio["tools"][0]["inputSchema"];
    assert_eq!(schema["required"], json!(["path"]), "{schema}");
    assert!(stdio["tools"][0]["description"]
        .as_str()
        .unwrap()
        .contains("src/"));
    check_calls(&stdio);

    // stdio, no grant: no tools, and a call is refused before reaching the executor.
    let bare = drive(
        &python,
        &json!({"transport": "stdio", "command": command(front_args(None)),
                "calls": [{"name": "fs_read", "arguments": {"path": "src/calc.sh"}}]}),
    );
    assert_eq!(tool_names(&bare), Vec::<String>::new(), "{bare}");
    assert_eq!(
        bare["calls"][0]["structured"]["refused"],
        json!("Unauthenticated")
    );

    // Streamable HTTP on loopback, the grant per request as a bearer token.
    let log = cluster.path("mcp-http.log");
    let mut args = front_args(None);
    args.extend(["--listen".to_string(), "127.0.0.1:0".into()]);
    let http = ServerProcess::start(&bin, &args, &log).unwrap();
    let url = format!("http://{}/mcp", http.addr);
    let with_bearer = drive(
        &python,
        &json!({"transport": "http", "url": url, "bearer": grant_text, "calls": calls()}),
    );
    assert_eq!(
        tool_names(&with_bearer),
        ["fs_read", "fs_list"],
        "{with_bearer}"
    );
    check_calls(&with_bearer);
    let anonymous = drive(
        &python,
        &json!({"transport": "http", "url": url, "calls": []}),
    );
    assert_eq!(tool_names(&anonymous), Vec::<String>::new(), "{anonymous}");

    // Every call that reached the executor is in provenance like a gRPC call: per transport,
    // the read allowed, the read outside `src` and the write refused.
    let records = recorded(&cluster, &answer.grant_id).await;
    let count = |op: &str, resource: &str, decision: &str| {
        records
            .iter()
            .filter(|(o, r, d)| o == op && r == resource && d == decision)
            .count()
    };
    assert_eq!(count("fs.read", "src/calc.sh", "allow"), 2, "{records:?}");
    assert_eq!(count("fs.read", "README.md", "refuse"), 2, "{records:?}");
    assert_eq!(count("fs.write", "src/new.sh", "refuse"), 2, "{records:?}");
    assert!(!cluster.workspace.join("src/new.sh").exists());
}

/// The front holds the agent's key: it refuses to listen anywhere but loopback, before it
/// connects to anything.
#[test]
fn the_http_front_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    trust_sdk::keys::save(&trust_sdk::keys::generate(), &key).unwrap();
    let bin = binaries::binary("tool-executor", "tool-executor").unwrap();
    let out = Command::new(bin)
        .args([
            "mcp",
            "--executor",
            "http://127.0.0.1:1",
            "--authority",
            "http://127.0.0.1:1",
            "--insecure-plaintext",
            "--agent-key",
        ])
        .arg(&key)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listens on loopback only") && stderr.contains("0.0.0.0:0"),
        "{stderr}"
    );
}
