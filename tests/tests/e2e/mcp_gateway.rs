//! `tool-executor mcp-gateway` in front of a real third-party MCP server installed from npm
//! (`@modelcontextprotocol/server-filesystem`, pinned, into target/mcp-npm by
//! scripts/install-test-tools.sh), run by the executor in the sandbox, driven by the official
//! Python MCP client: the tools the grant does not name are hidden, an allowed call returns the
//! server's real result, a refused call never reaches the server (its effect on disk is
//! absent, while the same call under a grant that names it does write), every call is in
//! provenance with digests only, and a forged bearer grant lists nothing.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord};
use trust_tests::process::ServerProcess;
use trust_tests::{binaries, Cluster, ClusterOptions};

/// The filesystem server's entry point, or `None` (skipped) unless `TRUST_REQUIRE_MCP_NPM`.
fn filesystem_server() -> Option<PathBuf> {
    let root = binaries::workspace_root().join("target/mcp-npm");
    let entry = root.join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    if entry.exists() && which_node().is_some() {
        return Some(root);
    }
    assert!(
        std::env::var_os("TRUST_REQUIRE_MCP_NPM").is_none(),
        "the npm MCP server is required: run scripts/install-test-tools.sh"
    );
    eprintln!("SKIPPED mcp_gateway: run scripts/install-test-tools.sh to install the npm server");
    None
}

fn which_node() -> Option<PathBuf> {
    ["/usr/bin/node", "/usr/local/bin/node"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

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
    None
}

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

/// The grant's provenance records, as parsed records and raw lines.
async fn recorded(cluster: &Cluster, grant_id: &str) -> Vec<(ProvenanceRecord, String)> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(&l).unwrap() {
                ProvenanceEntry::Record(r) if r.grant_id.as_deref() == Some(grant_id) => {
                    Some((r, l))
                }
                _ => None,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_shows_forwards_and_refuses_exactly_what_the_grant_names() {
    let Some(npm) = filesystem_server() else {
        return;
    };
    let Some(python) = mcp_python() else { return };
    let node = which_node().unwrap();
    let files = tempfile::tempdir().unwrap();
    let shared = files.path().canonicalize().unwrap();
    std::fs::write(shared.join("hello.txt"), "hello from the upstream\n").unwrap();
    let log = files
        .path()
        .join("..")
        .canonicalize()
        .unwrap()
        .join(format!("mcp-files-{}.log", std::process::id()));
    let entry = npm.join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    let options = ClusterOptions {
        executor_extra: format!(
            "\n[[mcp_upstream]]\nname = \"files\"\ncommand = [{node:?}, {entry:?}, {shared:?}]\n\
             workspace = {shared:?}\nwritable = [\"\"]\nread_paths = [{npm:?}]\n\
             stderr_log = {log:?}\n",
            node = node.display().to_string(),
            entry = entry.display().to_string(),
            shared = shared.display().to_string(),
            npm = npm.display().to_string(),
            log = log.display().to_string(),
        ),
        profile_extra: "\n[[allow]]\nid = \"mcp-files\"\noperations = [\"mcp.call\"]\n\
                        resources = [\"files/read_text_file\", \"files/write_file\"]\n"
            .to_string(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).unwrap();
    let narrow = cluster
        .grant("mcp-gateway-read", &[("mcp.call", "files/read_text_file")])
        .await
        .unwrap();
    let grant = narrow.grant.clone().unwrap();
    let b64 = |g: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, g);
    let grant_file = cluster.path("gw-grant.b64");
    std::fs::write(&grant_file, b64(&grant)).unwrap();
    let key_file = cluster.path("agent.key");
    trust_sdk::keys::save(&cluster.agent_key, &key_file).unwrap();
    let ca = cluster.ca_file().unwrap();
    let bin = binaries::binary("tool-executor", "tool-executor").unwrap();
    let mut args = vec![
        "mcp-gateway".to_string(),
        "--executor".into(),
        cluster.executor_endpoint(),
        "--ca".into(),
        ca.display().to_string(),
        "--agent-key".into(),
        key_file.display().to_string(),
    ];
    let mut command = vec![bin.display().to_string()];
    command.extend(args.clone());
    command.extend(["--grant".to_string(), grant_file.display().to_string()]);

    // stdio: only read_text_file is listed (write_file, list_directory, ... and their
    // schemas are not); the read returns the server's own answer; the write is refused.
    let written = shared.join("refused.txt");
    let stdio = drive(
        &python,
        &json!({"transport": "stdio", "command": command, "calls": [
            {"name": "files.read_text_file", "arguments": {"path": shared.join("hello.txt")}},
            {"name": "files.write_file", "arguments": {"path": written, "content": "SECRET-ARG"}},
        ]}),
    );
    assert_eq!(tool_names(&stdio), ["files.read_text_file"], "{stdio}");
    assert!(!stdio.to_string().contains("write_file\",\"inputSchema"));
    let read = &stdio["calls"][0];
    assert_eq!(read["isError"], json!(false), "{read}");
    assert!(
        read["text"]
            .as_str()
            .unwrap()
            .contains("hello from the upstream"),
        "{read}"
    );
    let refused = &stdio["calls"][1];
    assert_eq!(refused["isError"], json!(true), "{refused}");
    assert_eq!(refused["structured"]["refused"], json!("PermissionDenied"));
    let message = refused["structured"]["message"].as_str().unwrap();
    assert!(message.starts_with("grant-scope"), "{message}");
    assert!(!written.exists(), "a refused call reached the upstream");

    // Over HTTP with a grant that names write_file, the same server does write: the absence
    // above is the refusal's doing, not the sandbox's.
    args.extend(["--listen".to_string(), "127.0.0.1:0".into()]);
    let http = ServerProcess::start(&bin, &args, &cluster.path("gw-http.log")).unwrap();
    let url = format!("http://{}/mcp", http.addr);
    let writer = cluster
        .grant("mcp-gateway-write", &[("mcp.call", "files/write_file")])
        .await
        .unwrap();
    let allowed = shared.join("allowed.txt");
    let with_write = drive(
        &python,
        &json!({"transport": "http", "url": url, "bearer": b64(writer.grant.as_ref().unwrap()),
                "calls": [{"name": "files.write_file",
                           "arguments": {"path": allowed, "content": "written upstream"}}]}),
    );
    assert_eq!(
        tool_names(&with_write),
        ["files.write_file"],
        "{with_write}"
    );
    assert_eq!(
        with_write["calls"][0]["isError"],
        json!(false),
        "{with_write}"
    );
    assert_eq!(
        std::fs::read_to_string(&allowed).unwrap(),
        "written upstream"
    );

    // Attack: a tampered bearer grant lists nothing and gets an error naming the signature.
    let mut forged = grant.clone();
    let at = forged.len() / 2;
    forged[at] ^= 0x55;
    let attack = drive(
        &python,
        &json!({"transport": "http", "url": url, "bearer": b64(&forged), "calls": []}),
    );
    assert_eq!(tool_names(&attack), Vec::<String>::new(), "{attack}");
    let error = attack["listError"].as_str().unwrap_or_default();
    assert!(
        error.contains("signature") || error.contains("grant"),
        "{attack}"
    );

    // Every call is recorded, with digests of the arguments and of the result only.
    let records = recorded(&cluster, &narrow.grant_id).await;
    let find = |resource: &str, decision: &str| {
        records
            .iter()
            .find(|(r, _)| {
                r.operation == "mcp.call"
                    && r.resources.first().map(String::as_str) == Some(resource)
                    && r.decision == decision
            })
            .unwrap_or_else(|| panic!("no {decision} record of {resource}: {records:?}"))
    };
    let (_, allowed_line) = find("files/read_text_file", "allow");
    assert!(allowed_line.contains("arguments_sha256"), "{allowed_line}");
    assert!(!allowed_line.contains("hello from the upstream"));
    let (_, refused_line) = find("files/write_file", "refuse");
    assert!(refused_line.contains("arguments_sha256"), "{refused_line}");
    assert!(!refused_line.contains("SECRET-ARG"), "{refused_line}");
    assert!(records.iter().all(|(_, l)| !l.contains("SECRET-ARG")));
}
