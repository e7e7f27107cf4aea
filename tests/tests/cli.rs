//! `trustctl` end to end: the real binary against real authority and executor processes, and
//! interop with the stock `biscuit` command line (skipped when `biscuit` is not on PATH).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use trust_tests::{Cluster, ClusterOptions};

/// The diff that fixes the demo workspace's `add()`.
const FIX_ADD: &str = "--- a/src/calc.sh\n+++ b/src/calc.sh\n@@ -1,4 +1,4 @@\n # A tiny shell \"library\" the demo agent fixes: add() has a bug.\n add() {\n-  echo $(($1 - $2))\n+  echo $(($1 + $2))\n }\n";

/// A running cluster plus key files for every principal and a scratch directory.
struct Kit {
    cluster: Cluster,
    bin: PathBuf,
    agent_key: PathBuf,
    admin_key: PathBuf,
    auditor_key: PathBuf,
}

/// What one `trustctl` run produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn trustctl_path() -> PathBuf {
    trust_tests::binaries::binary("trustctl", "trustctl").unwrap()
}

fn run_bin(bin: &Path, args: &[&str]) -> Run {
    run_bin_trusting(bin, args, None)
}

/// Runs `bin args`, trusting the CA certificate `ca` (TRUST_CA) when given.
fn run_bin_trusting(bin: &Path, args: &[&str], ca: Option<&Path>) -> Run {
    let mut command = Command::new(bin);
    if let Some(ca) = ca {
        command.env("TRUST_CA", ca);
    }
    let output = command
        .args(args)
        .env_remove("TRUST_AUTHORITY")
        .env_remove("TRUST_EXECUTOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from(output)
}

fn run_with_stdin(bin: &Path, args: &[&str], input: &[u8], ca: &Path) -> Run {
    use std::io::Write;
    let mut child = Command::new(bin)
        .env("TRUST_CA", ca)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    Run::from(child.wait_with_output().unwrap())
}

impl Kit {
    fn start() -> Self {
        Self::with(ClusterOptions::default())
    }

    fn with(options: ClusterOptions) -> Self {
        let bin = trustctl_path();
        let cluster = Cluster::start(options).unwrap();
        let save = |name: &str, key: &ed25519_dalek::SigningKey| {
            let path = cluster.path(name);
            trust_sdk::keys::save(key, &path).unwrap();
            path
        };
        let agent_key = save("agent.key", &cluster.agent_key);
        let admin_key = save("admin.key", &cluster.admin_key);
        let auditor_key = save("auditor.key", &cluster.auditor_key);
        Self {
            cluster,
            bin,
            agent_key,
            admin_key,
            auditor_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.cluster.path(name)
    }

    fn authority(&self) -> String {
        self.cluster.authority_endpoint()
    }

    fn executor(&self) -> String {
        self.cluster.executor_endpoint()
    }

    fn run(&self, args: &[&str]) -> Run {
        run_bin_trusting(&self.bin, args, Some(&self.ca()))
    }

    /// The cluster's CA certificate, which every command connecting to it trusts.
    fn ca(&self) -> PathBuf {
        self.cluster.path("tls/ca.pem")
    }

    /// Runs and asserts exit code 0.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "trustctl {args:?}\n{run:?}");
        run
    }

    /// `grant request` as coder-1 for alice in `demo`; returns the run (grant in `out`).
    fn request(&self, task: &str, scopes: &[&str], out: &Path) -> Run {
        let authority = self.authority();
        let key = self.agent_key.display().to_string();
        let out = out.display().to_string();
        let mut args = vec![
            "grant",
            "request",
            "--authority",
            &authority,
            "--agent",
            "coder-1",
            "--key",
            &key,
            "--user",
            "alice",
            "--workspace",
            "demo",
            "--task",
            task,
            "--purpose",
            "cli test",
            "--out",
            &out,
        ];
        for scope in scopes {
            args.push("--scope");
            args.push(scope);
        }
        self.run(&args)
    }

    /// Requests a grant that must be allowed, written to `name` in the cluster directory.
    fn grant(&self, task: &str, scopes: &[&str], name: &str) -> PathBuf {
        let out = self.path(name);
        let run = self.request(task, scopes, &out);
        assert_eq!(run.code, 0, "{run:?}");
        out
    }

    /// `trustctl exec` with the agent's key.
    fn exec(&self, grant: &Path, op: &[&str]) -> Run {
        let executor = self.executor();
        let grant = grant.display().to_string();
        let key = self.agent_key.display().to_string();
        let mut args = vec![
            "exec",
            "--executor",
            &executor,
            "--grant",
            &grant,
            "--key",
            &key,
        ];
        args.extend_from_slice(op);
        self.run(&args)
    }

    fn executor_key(&self) -> String {
        let executor = self.executor();
        self.ok(&["audit", "executor-key", "--executor", &executor])
            .stdout
            .trim()
            .to_string()
    }

    fn root_key(&self) -> String {
        let authority = self.authority();
        self.ok(&["root-keys", "--authority", &authority, "--active"])
            .stdout
            .trim()
            .to_string()
    }

    fn export(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let executor = self.executor();
        let key = self.auditor_key.display().to_string();
        let out_s = out.display().to_string();
        self.ok(&[
            "audit",
            "export",
            "--executor",
            &executor,
            "--auditor",
            "auditor:ops",
            "--key",
            &key,
            "--out",
            &out_s,
        ]);
        out
    }

    /// The executor's checkpoint key as an auditor pins it: read on the executor's host, not
    /// fetched from the executor that produced the export. The fetched one must match it.
    fn pinned_executor_key(&self) -> String {
        let key_file = self
            .path("executor-data/executor.key")
            .display()
            .to_string();
        let pinned = self
            .ok(&["pubkey", "--key", &key_file])
            .stdout
            .trim()
            .to_string();
        assert_eq!(pinned, self.executor_key());
        pinned
    }

    fn verify(&self, file: &Path, extra: &[&str]) -> Run {
        let key = self.pinned_executor_key();
        let file = file.display().to_string();
        let mut args = vec!["audit", "verify", &file, "--executor-key", &key];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn assert_refused(run: &Run, code: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(code), "expected {code}:\n{run:?}");
}

#[test]
fn keygen_writes_a_private_key_and_prints_its_public_key() {
    let bin = trustctl_path();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let p = path.display().to_string();
    let run = run_bin(&bin, &["keygen", "--out", &p]);
    assert_eq!(run.code, 0, "{run:?}");
    let public = run.stdout.trim().to_string();
    assert_eq!(public.len(), 64, "{run:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = trust_sdk::keys::load(&path).unwrap();
    assert_eq!(public, hex::encode(key.verifying_key().as_bytes()));
    let again = run_bin(&bin, &["pubkey", "--key", &p]);
    assert_eq!(again.stdout.trim(), public, "{again:?}");
    let refused = run_bin(&bin, &["keygen", "--out", &p]);
    assert_ne!(refused.code, 0, "must not overwrite a key: {refused:?}");
    assert_eq!(
        trust_sdk::keys::load(&path).unwrap().to_bytes(),
        key.to_bytes()
    );
}

#[test]
fn every_command_has_help() {
    let bin = trustctl_path();
    for cmd in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["pubkey", "--help"],
        vec!["root-keys", "--help"],
        vec!["grant", "request", "--help"],
        vec!["grant", "inspect", "--help"],
        vec!["grant", "attenuate", "--help"],
        vec!["exec", "--help"],
        vec![
            "exec",
            "x",
            "--grant",
            "g",
            "--key",
            "k",
            "--executor",
            "e",
            "read",
            "--help",
        ],
        vec![
            "exec",
            "--grant",
            "g",
            "--key",
            "k",
            "--executor",
            "e",
            "http",
            "--help",
        ],
        vec!["audit", "export", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "query", "--help"],
        vec!["audit", "executor-key", "--help"],
        vec!["admin", "revoke", "--help"],
        vec!["admin", "register-agent", "--help"],
        vec!["admin", "rotate-key", "--help"],
    ] {
        let cmd: Vec<&str> = cmd.into_iter().filter(|a| *a != "x").collect();
        let run = run_bin(&bin, &cmd);
        assert_eq!(run.code, 0, "{cmd:?}: {run:?}");
        assert!(run.stdout.contains("Usage: trustctl"), "{cmd:?}: {run:?}");
    }
}

#[test]
fn grant_request_allows_denies_and_asks_for_approval() {
    let kit = Kit::start();
    let out = kit.path("grant.b64");
    let allowed = kit.request(
        "fix-add",
        &["fs.read=", "fs.patch=src/", "proc.run=test"],
        &out,
    );
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert!(allowed.stdout.contains("decision: allow"), "{allowed:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    // URL-safe base64 of the Biscuit bytes, as `Biscuit::to_base64` writes it.
    let token = biscuit_auth::UnverifiedBiscuit::from_base64(text.trim()).unwrap();
    assert_eq!(token.block_count(), 1);

    let denied_out = kit.path("denied.b64");
    let denied = kit.request("leak", &["fs.write=.env"], &denied_out);
    assert_eq!(denied.code, 2, "{denied:?}");
    assert!(denied.stdout.contains("decision: deny"), "{denied:?}");
    assert!(
        denied.stdout.contains("secrets"),
        "rule id of the deny rule: {denied:?}"
    );
    assert!(!denied_out.exists(), "no grant on deny");

    let approval = kit.request(
        "fetch",
        &["net.http=example.org"],
        &kit.path("approval.b64"),
    );
    assert_eq!(approval.code, 3, "{approval:?}");
    assert!(
        approval.stdout.contains("approval_required"),
        "{approval:?}"
    );
    assert!(approval.stdout.contains("network"), "{approval:?}");

    // Without --out the grant goes to standard output and the decision to standard error.
    let authority = kit.authority();
    let key = kit.agent_key.display().to_string();
    let stdout_grant = kit.ok(&[
        "grant",
        "request",
        "--authority",
        &authority,
        "--agent",
        "coder-1",
        "--key",
        &key,
        "--user",
        "alice",
        "--workspace",
        "demo",
        "--task",
        "t",
        "--scope",
        "fs.read=src/",
        "--ttl",
        "5m",
    ]);
    assert!(
        stdout_grant.stderr.contains("decision: allow"),
        "{stdout_grant:?}"
    );
    biscuit_auth::UnverifiedBiscuit::from_base64(stdout_grant.stdout.trim()).unwrap();

    // A grant bound to another key (--holder-pubkey) only works with that key's proof.
    let holder_key = kit.path("holder.key");
    let hk = holder_key.display().to_string();
    let holder_public = kit.ok(&["keygen", "--out", &hk]).stdout.trim().to_string();
    let bound = kit.path("bound.b64");
    let b = bound.display().to_string();
    let bound_run = kit.ok(&[
        "grant",
        "request",
        "--authority",
        &authority,
        "--agent",
        "coder-1",
        "--key",
        &key,
        "--user",
        "alice",
        "--workspace",
        "demo",
        "--task",
        "bound",
        "--scope",
        "fs.read=",
        "--holder-pubkey",
        &holder_public,
        "--out",
        &b,
    ]);
    assert!(
        bound_run.stdout.contains("decision: allow"),
        "{bound_run:?}"
    );
    assert_refused(&kit.exec(&bound, &["read", "README.md"]), "UNAUTHENTICATED");
    let executor = kit.executor();
    let by_holder = run_with_stdin(
        &kit.bin,
        &[
            "exec",
            "--executor",
            &executor,
            "--grant",
            "-",
            "--key",
            &hk,
            "read",
            "README.md",
        ],
        &std::fs::read(&bound).unwrap(),
        &kit.ca(),
    );
    assert_eq!(by_holder.code, 0, "{by_holder:?}");
}

#[test]
fn grant_inspect_shows_blocks_and_claims() {
    let kit = Kit::start();
    let grant = kit.grant(
        "fix-add",
        &["fs.read=", "fs.patch=src/", "proc.run=test"],
        "g.b64",
    );
    let g = grant.display().to_string();
    let authority = kit.authority();
    let shown = kit.ok(&["grant", "inspect", "--grant", &g, "--authority", &authority]);
    for needle in [
        "verified against root key",
        "block 0: signed by authority (root key id",
        "grant_id(",
        "check if time($t)",
        "user:          alice",
        "agent:         coder-1",
        "workspace:     demo",
        "task:          fix-add",
        "fs.read    (whole workspace)",
        "fs.patch   src  (src itself and everything under src/)",
        "test = [\"sh\", \"run-tests.sh\"]",
        "read_bytes <= 1048576",
        ".env",
        "expires:",
    ] {
        assert!(
            shown.stdout.contains(needle),
            "missing `{needle}`:\n{shown:?}"
        );
    }
    let holder = hex::encode(kit.cluster.agent_key.verifying_key().as_bytes());
    assert!(shown.stdout.contains(&holder), "{shown:?}");

    // JSON, verified with the root key given directly.
    let root = kit.root_key();
    let json = kit.ok(&[
        "grant",
        "inspect",
        "--grant",
        &g,
        "--public-key",
        &root,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["claims"]["task"], "fix-add");
    assert_eq!(v["claims"]["holder"], holder);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 1);

    // Unverified inspection still decodes, and says it is unverified.
    let unverified = kit.ok(&["grant", "inspect", "--grant", &g]);
    assert!(unverified.stdout.contains("NOT VERIFIED"), "{unverified:?}");
    assert!(
        unverified.stdout.contains("task:          fix-add"),
        "{unverified:?}"
    );
    let unverified = kit.ok(&["grant", "inspect", "--grant", &g, "--json"]);
    let u: serde_json::Value = serde_json::from_str(&unverified.stdout).unwrap();
    assert_eq!(u["verified"], false);
    assert_eq!(
        u["claims"], v["claims"],
        "the same claims, decoded without verification"
    );

    // From standard input.
    let piped = run_with_stdin(
        &kit.bin,
        &[
            "grant",
            "inspect",
            "--grant",
            "-",
            "--authority",
            &authority,
        ],
        &std::fs::read(&grant).unwrap(),
        &kit.ca(),
    );
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(piped.stdout.contains("task:          fix-add"), "{piped:?}");

    // A wrong key is an error, not an unverified display.
    let other = hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes());
    let wrong = kit.run(&["grant", "inspect", "--grant", &g, "--public-key", &other]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("does not verify"), "{wrong:?}");
}

#[test]
fn attenuate_refuses_widening_and_the_executor_enforces_narrowing() {
    let kit = Kit::start();
    let grant = kit.grant(
        "narrow",
        &["fs.read=", "fs.patch=src/", "proc.run=test"],
        "g.b64",
    );
    let g = grant.display().to_string();
    let authority = kit.authority();
    let narrowed = kit.path("narrowed.b64");
    let n = narrowed.display().to_string();

    for (flags, why) in [
        (vec!["--operation", "fs.write"], "operation `fs.write`"),
        (vec!["--command", "deploy"], "command `deploy`"),
        (
            vec!["--operation", "fs.patch", "--prefix", "../etc"],
            "workspace-relative",
        ),
        (vec!["--limit", "read_bytes=99999999"], "read_bytes"),
        (vec!["--ttl", "100d"], "expiry"),
    ] {
        let mut args = vec![
            "grant",
            "attenuate",
            "--grant",
            &g,
            "--authority",
            &authority,
            "--out",
            &n,
        ];
        args.extend_from_slice(&flags);
        let run = kit.run(&args);
        assert_eq!(run.code, 1, "{flags:?} must be refused: {run:?}");
        assert!(run.stderr.contains(why), "{flags:?}: {run:?}");
        assert!(!narrowed.exists(), "nothing written on refusal");
    }

    let done = kit.ok(&[
        "grant",
        "attenuate",
        "--grant",
        &g,
        "--authority",
        &authority,
        "--operation",
        "fs.read",
        "--prefix",
        "src/",
        "--ttl",
        "5m",
        "--out",
        &n,
    ]);
    eprintln!("{}", done.stderr);
    let shown = kit.ok(&["grant", "inspect", "--grant", &n, "--authority", &authority]);
    assert!(
        shown.stdout.contains("block 1: signed by attenuation"),
        "{shown:?}"
    );

    let read = kit.exec(&narrowed, &["read", "src/calc.sh"]);
    assert_eq!(read.code, 0, "{read:?}");
    assert!(read.stdout.contains("add()"), "{read:?}");
    assert_refused(
        &kit.exec(&narrowed, &["read", "README.md"]),
        "PERMISSION_DENIED",
    );
    let diff = kit.path("fix.diff");
    std::fs::write(&diff, FIX_ADD).unwrap();
    let d = diff.display().to_string();
    assert_refused(
        &kit.exec(&narrowed, &["patch", "--diff", &d]),
        "PERMISSION_DENIED",
    );
    assert_refused(&kit.exec(&narrowed, &["run", "test"]), "PERMISSION_DENIED");
    // The original grant still holds what it held.
    assert_eq!(kit.exec(&grant, &["read", "README.md"]).code, 0);

    // Narrowing commands and limits.
    let limited = kit.path("limited.b64");
    let l = limited.display().to_string();
    let done = kit.ok(&[
        "grant",
        "attenuate",
        "--grant",
        &g,
        "--authority",
        &authority,
        "--limit",
        "read_bytes=16",
        "--command",
        "test",
        "--prefix",
        "src",
        "--prefix",
        "tests",
        "--out",
        &l,
    ]);
    eprintln!("{}", done.stderr);
    assert_refused(
        &kit.exec(&limited, &["read", "src/calc.sh"]),
        "PERMISSION_DENIED",
    );
    let small = kit.exec(&limited, &["read", "src/calc.sh", "--length", "16"]);
    assert_eq!(small.code, 0, "{small:?}");
    assert_eq!(small.stdout.len(), 16, "{small:?}");
}

#[test]
fn exec_read_list_search_patch_run_and_write() {
    let kit = Kit::start();
    let grant = kit.grant(
        "fix-add",
        &[
            "fs.read=",
            "fs.list=",
            "fs.search=",
            "fs.patch=src/",
            "fs.write=src/",
            "proc.run=test",
        ],
        "g.b64",
    );
    let read = kit.exec(&grant, &["read", "src/calc.sh"]);
    assert_eq!(read.code, 0, "{read:?}");
    assert!(read.stdout.contains("echo $(($1 - $2))"), "{read:?}");
    assert_eq!(
        read.stdout,
        std::fs::read_to_string(kit.cluster.workspace.join("src/calc.sh")).unwrap()
    );

    let list = kit.exec(&grant, &["list", ".", "--depth", "2"]);
    assert_eq!(list.code, 0, "{list:?}");
    assert!(list.stdout.contains("src/calc.sh"), "{list:?}");

    let search = kit.exec(&grant, &["search", "src", "add()"]);
    assert_eq!(search.code, 0, "{search:?}");
    assert!(search.stdout.contains("src/calc.sh:"), "{search:?}");

    let before = kit.exec(&grant, &["run", "test"]);
    assert_eq!(before.code, 1, "the bug makes the tests fail: {before:?}");

    let diff = kit.path("fix.diff");
    std::fs::write(&diff, FIX_ADD).unwrap();
    let d = diff.display().to_string();
    let patched = kit.exec(&grant, &["patch", "--diff", &d]);
    assert_eq!(patched.code, 0, "{patched:?}");
    assert!(
        patched.stdout.contains("patched src/calc.sh"),
        "{patched:?}"
    );

    let after = kit.exec(&grant, &["run", "test"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert!(after.stdout.contains("all tests passed"), "{after:?}");

    let json = kit.exec(&grant, &["--json", "run", "test"]);
    assert_eq!(json.code, 0, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["operation"], "proc.run");
    assert_eq!(v["exit_code"], 0);
    assert!(v["provenance_sequence"].as_u64().unwrap() > 0);

    let read_json = kit.exec(&grant, &["read", "src/calc.sh", "--json", "--length", "5"]);
    let v: serde_json::Value = serde_json::from_str(&read_json.stdout).unwrap();
    assert_eq!(v["operation"], "fs.read", "{read_json:?}");
    assert_eq!(v["text"], "# A t", "{read_json:?}");

    let from = kit.path("content.txt");
    std::fs::write(&from, "from a file\n").unwrap();
    let f = from.display().to_string();
    let created = kit.exec(
        &grant,
        &["write", "src/from.txt", "--from", &f, "--create-only"],
    );
    assert_eq!(created.code, 0, "{created:?}");
    assert!(created.stdout.starts_with("created,"), "{created:?}");
    let again = kit.exec(
        &grant,
        &["write", "src/from.txt", "--from", &f, "--create-only"],
    );
    assert_eq!(again.code, 1, "{again:?}");
    let stale = kit.exec(
        &grant,
        &[
            "write",
            "src/from.txt",
            "--content",
            "x",
            "--expect-sha256",
            &"0".repeat(64),
        ],
    );
    assert_refused(&stale, "FAILED_PRECONDITION");

    let wrote = kit.exec(&grant, &["write", "src/notes.txt", "--content", "hello\n"]);
    assert_eq!(wrote.code, 0, "{wrote:?}");
    assert_eq!(
        std::fs::read_to_string(kit.cluster.workspace.join("src/notes.txt")).unwrap(),
        "hello\n"
    );

    assert_refused(&kit.exec(&grant, &["read", ".env"]), "PERMISSION_DENIED");
    assert_refused(
        &kit.exec(&grant, &["write", "README.md", "--content", "x"]),
        "PERMISSION_DENIED",
    );
    assert_refused(
        &kit.exec(&grant, &["read", "../etc/passwd"]),
        "PERMISSION_DENIED",
    );

    // A grant presented with a key that is not its holder's is refused.
    let thief = kit.path("thief.key");
    trust_sdk::keys::save(&trust_sdk::keys::generate(), &thief).unwrap();
    let executor = kit.executor();
    let stolen = kit.run(&[
        "exec",
        "--executor",
        &executor,
        "--grant",
        &grant.display().to_string(),
        "--key",
        &thief.display().to_string(),
        "read",
        "src/calc.sh",
    ]);
    assert_refused(&stolen, "UNAUTHENTICATED");
}

/// Lines of an export and, for each, whether it is a checkpoint.
fn export_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn is_checkpoint(line: &str) -> bool {
    line.starts_with("{\"checkpoint\"")
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[test]
fn audit_export_verifies_and_every_tampering_is_named() {
    let kit = Kit::with(ClusterOptions {
        checkpoint_every: 4,
        ..Default::default()
    });
    let grant = kit.grant("audited", &["fs.read=", "proc.run=test"], "g.b64");
    // Ten reads (one read_only record each) and a refusal: 11 records.
    for _ in 0..10 {
        assert_eq!(kit.exec(&grant, &["read", "src/calc.sh"]).code, 0);
    }
    assert_refused(&kit.exec(&grant, &["read", ".env"]), "PERMISSION_DENIED");
    let export = kit.export("export.jsonl");
    let lines = export_lines(&export);
    assert!(lines.len() >= 12, "{lines:?}");
    assert!(is_checkpoint(lines.last().unwrap()));

    let intact = kit.verify(&export, &[]);
    assert_eq!(intact.code, 0, "{intact:?}");
    assert!(intact.stdout.contains("chain intact"), "{intact:?}");
    let json = kit.verify(&export, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["intact"], true);
    assert!(v["records"].as_u64().unwrap() >= 11, "{v}");

    let record_lines: Vec<usize> = (0..lines.len())
        .filter(|i| !is_checkpoint(&lines[*i]))
        .collect();

    // Edit one record (its resource): its hash no longer matches.
    let edited_index = record_lines[2];
    let mut edited = lines.clone();
    let mut value: serde_json::Value = serde_json::from_str(&edited[edited_index]).unwrap();
    let sequence = value["record"]["sequence"].as_u64().unwrap();
    value["record"]["resources"] = serde_json::json!(["README.md"]);
    edited[edited_index] = value.to_string();
    let file = kit.path("edited.jsonl");
    write_lines(&file, &edited);
    let run = kit.verify(&file, &[]);
    assert_ne!(run.code, 0, "{run:?}");
    let expected = format!(
        "line {}: record {sequence} does not match its hash",
        edited_index + 1
    );
    assert!(
        run.stderr.contains(&expected),
        "expected `{expected}`: {run:?}"
    );

    // Delete a record (one followed by another record).
    let deleted_index = *record_lines[2..]
        .iter()
        .find(|i| lines.get(*i + 1).is_some_and(|l| !is_checkpoint(l)))
        .unwrap();
    let mut deleted = lines.clone();
    deleted.remove(deleted_index);
    let file = kit.path("deleted.jsonl");
    write_lines(&file, &deleted);
    let run = kit.verify(&file, &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!("line {}:", deleted_index + 1)),
        "{run:?}"
    );
    assert!(run.stderr.contains("deleted, inserted or moved"), "{run:?}");

    // Swap two adjacent records.
    let (a, b) = record_lines
        .windows(2)
        .map(|w| (w[0], w[1]))
        .find(|(a, b)| b - a == 1)
        .unwrap();
    let mut swapped = lines.clone();
    swapped.swap(a, b);
    let file = kit.path("swapped.jsonl");
    write_lines(&file, &swapped);
    let run = kit.verify(&file, &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&format!("line {}:", a + 1)), "{run:?}");

    // Cut off the final checkpoint: the records after the previous one are no longer sealed.
    let mut truncated = lines.clone();
    while truncated.last().is_some_and(|l| is_checkpoint(l)) {
        truncated.pop();
    }
    let first_unsealed = truncated
        .iter()
        .rposition(|l| is_checkpoint(l))
        .map(|i| i + 1)
        .unwrap_or(0);
    let file = kit.path("truncated.jsonl");
    write_lines(&file, &truncated);
    let run = kit.verify(&file, &[]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("line {}:", first_unsealed + 1)),
        "{run:?}"
    );
    assert!(run.stderr.contains("may be truncated"), "{run:?}");
    let tolerated = kit.verify(&file, &["--allow-unsealed-tail"]);
    assert_eq!(tolerated.code, 0, "{tolerated:?}");
    assert!(
        tolerated.stdout.contains("not vouched for"),
        "{tolerated:?}"
    );

    // Signed by another executor key: refused.
    let other = hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes());
    let run = kit.run(&[
        "audit",
        "verify",
        &export.display().to_string(),
        "--executor-key",
        &other,
    ]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("different executor key"), "{run:?}");
    // The same with the wrong key pinned in a file, and the right one from a file passes.
    let wrong_file = kit.path("wrong-executor.pub");
    std::fs::write(&wrong_file, format!("{other}\n")).unwrap();
    let run = kit.run(&[
        "audit",
        "verify",
        &export.display().to_string(),
        "--executor-key",
        &wrong_file.display().to_string(),
    ]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("different executor key"), "{run:?}");
    let right_file = kit.path("executor.pub");
    std::fs::write(&right_file, kit.pinned_executor_key()).unwrap();
    let run = kit.run(&[
        "audit",
        "verify",
        &export.display().to_string(),
        "--executor-key",
        &right_file.display().to_string(),
        "--allow-unsealed-tail",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn audit_query_by_task_returns_only_that_task() {
    let kit = Kit::start();
    let one = kit.grant("task-one", &["fs.read="], "one.b64");
    let two = kit.grant("task-two", &["fs.read="], "two.b64");
    for _ in 0..2 {
        assert_eq!(kit.exec(&one, &["read", "README.md"]).code, 0);
    }
    assert_eq!(kit.exec(&two, &["read", "src/calc.sh"]).code, 0);
    assert_refused(&kit.exec(&two, &["read", ".env"]), "PERMISSION_DENIED");

    let executor = kit.executor();
    let key = kit.auditor_key.display().to_string();
    let query = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "query",
            "--executor",
            &executor,
            "--auditor",
            "auditor:ops",
            "--key",
            &key,
        ];
        args.extend_from_slice(extra);
        let run = kit.ok(&args);
        run.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let records = query(&["--task", "task-one"]);
    assert_eq!(
        records.len(),
        2,
        "one read_only record per read: {records:?}"
    );
    assert!(
        records.iter().all(|r| r["kind"] == "read_only"),
        "{records:?}"
    );
    assert!(
        records.iter().all(|r| r["task"] == "task-one"),
        "{records:?}"
    );
    let records = query(&["--task", "task-two"]);
    assert_eq!(records.len(), 2, "read_only record, refusal: {records:?}");
    assert!(
        records.iter().all(|r| r["task"] == "task-two"),
        "{records:?}"
    );
    let refusals = query(&["--task", "task-two", "--resource-prefix", ".env"]);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["decision"], "refuse");
    let limited = query(&["--agent", "coder-1", "--limit", "2"]);
    assert_eq!(limited.len(), 2, "{limited:?}");
    let future = query(&["--since", "2999-01-01T00:00:00Z"]);
    assert!(future.is_empty(), "{future:?}");
}

#[test]
fn admin_revoke_stops_a_grant() {
    let kit = Kit::start();
    let grant = kit.grant("revoked", &["fs.read="], "g.b64");
    assert_eq!(kit.exec(&grant, &["read", "README.md"]).code, 0);
    let authority = kit.authority();
    let g = grant.display().to_string();
    let shown = kit.ok(&[
        "grant",
        "inspect",
        "--grant",
        &g,
        "--authority",
        &authority,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    let grant_id = v["claims"]["grant_id"].as_str().unwrap().to_string();
    let key = kit.admin_key.display().to_string();
    let revoked = kit.ok(&[
        "admin",
        "revoke",
        "--authority",
        &authority,
        "--admin",
        "admin:ops",
        "--key",
        &key,
        "--grant",
        &grant_id,
        "--reason",
        "test",
    ]);
    assert!(revoked.stdout.contains(&grant_id), "{revoked:?}");
    // The executor polls revocations every 100 ms in the test kit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let run = kit.exec(&grant, &["read", "README.md"]);
        if run.code == 1 && run.stderr.contains("UNAUTHENTICATED") {
            assert!(run.stderr.contains("revoked"), "{run:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still admitted after revocation: {run:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Register a new agent, which can then request grants with its own key.
    let new_key = kit.path("new-agent.key");
    let nk = new_key.display().to_string();
    let public = kit.ok(&["keygen", "--out", &nk]).stdout.trim().to_string();
    kit.ok(&[
        "admin",
        "register-agent",
        "--authority",
        &authority,
        "--admin",
        "admin:ops",
        "--key",
        &key,
        "--agent",
        "coder-2",
        "--owner",
        "alice",
        "--agent-pubkey",
        &public,
    ]);
    let rotated = kit.ok(&[
        "admin",
        "rotate-key",
        "--authority",
        &authority,
        "--admin",
        "admin:ops",
        "--key",
        &key,
    ]);
    assert!(rotated.stdout.contains("active"), "{rotated:?}");
    assert!(
        kit.ok(&["root-keys", "--authority", &authority])
            .stdout
            .lines()
            .count()
            >= 2
    );
}

/// The stock `biscuit` command line, or `None` (and a notice) when it is not installed.
fn biscuit_cli() -> Option<PathBuf> {
    match Command::new("biscuit")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Some(PathBuf::from("biscuit")),
        Err(_) => {
            assert!(
                std::env::var_os("TRUST_REQUIRE_BISCUIT_CLI").is_none(),
                "TRUST_REQUIRE_BISCUIT_CLI is set but `biscuit` is not on PATH"
            );
            eprintln!(
                "SKIPPED interop_biscuit_cli: `biscuit` is not on PATH \
                 (install it with `cargo install biscuit-cli --version 0.6.0 --locked`)"
            );
            None
        }
    }
}

fn biscuit(args: &[&str]) -> Run {
    Run::from(
        Command::new("biscuit")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn interop_biscuit_cli_inspects_and_attenuates_grants() {
    let Some(_) = biscuit_cli() else { return };
    let kit = Kit::start();
    let grant = kit.grant(
        "interop",
        &["fs.read=", "fs.patch=src/", "proc.run=test"],
        "g.b64",
    );
    let g = grant.display().to_string();
    let root = kit.root_key();
    assert!(root.starts_with("ed25519/"), "{root}");

    // The stock CLI reads trustctl's grant file and verifies it against the root key.
    let inspected = biscuit(&["inspect", &g, "--public-key", &root]);
    assert_eq!(inspected.code, 0, "{inspected:?}");
    eprintln!(
        "biscuit inspect GRANT --public-key ROOT:\n{}",
        inspected.stdout
    );
    for needle in [
        "grant_id(",
        "holder(",
        "scope(",
        "command(",
        "limit(",
        "deny_regex(",
    ] {
        assert!(
            inspected.stdout.contains(needle),
            "missing `{needle}`: {inspected:?}"
        );
    }
    let other = format!(
        "ed25519/{}",
        hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes())
    );
    let wrong = biscuit(&["inspect", &g, "--public-key", &other]);
    assert_ne!(wrong.code, 0, "{wrong:?}");
    assert!(
        wrong.stdout.contains("Public key check failed"),
        "{wrong:?}"
    );

    // Attenuate with the stock CLI, against the documented vocabulary: only fs.read.
    let attenuated = biscuit(&[
        "attenuate",
        &g,
        "--block",
        r#"check if operation($op), ["fs.read"].contains($op);"#,
    ]);
    assert_eq!(attenuated.code, 0, "{attenuated:?}");
    let narrowed = kit.path("narrowed.b64");
    std::fs::write(&narrowed, attenuated.stdout.trim()).unwrap();
    let authority = kit.authority();
    let n = narrowed.display().to_string();
    let shown = kit.ok(&["grant", "inspect", "--grant", &n, "--authority", &authority]);
    assert!(
        shown.stdout.contains("block 1: signed by attenuation"),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("\"fs.read\""), "{shown:?}");

    // Dry run offline, as the document shows: the executor's ambient facts by hand.
    let holder = hex::encode(kit.cluster.agent_key.verifying_key().as_bytes());
    let ambient = |op: &str, resource: &str| {
        format!(
            r#"operation("{op}"); resource("{resource}"); param("read_bytes", 4096);
               param("write_bytes", 0); param("list_entries", 0); param("list_depth", 0);
               param("search_matches", 0); param("run_timeout_ms", 0); param("output_bytes", 0);
               holder_proof(hex:{holder}); served_workspace("demo"); allow if true;"#
        )
    };
    let dry = |op: &str, resource: &str| {
        biscuit(&[
            "inspect",
            &n,
            "--public-key",
            &root,
            "--include-time",
            // Every grant carries the sensitive-file class (about 20 deny checks, some regexes
            // that biscuit compiles per run); the CLI's 1 ms default is too tight for a check run.
            "--max-time",
            "100ms",
            "--authorize-with",
            &ambient(op, resource),
        ])
    };
    let allowed = dry("fs.read", "src/calc.sh");
    assert_eq!(allowed.code, 0, "{allowed:?}");
    let refused = dry("fs.patch", "src/calc.sh");
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stdout.contains("Authorizer check failed") || refused.stdout.contains("failed"),
        "{refused:?}"
    );

    let read = kit.exec(&narrowed, &["read", "src/calc.sh"]);
    assert_eq!(read.code, 0, "fs.read still works: {read:?}");
    let diff = kit.path("fix.diff");
    std::fs::write(&diff, FIX_ADD).unwrap();
    let d = diff.display().to_string();
    assert_refused(
        &kit.exec(&narrowed, &["patch", "--diff", &d]),
        "PERMISSION_DENIED",
    );
    assert_refused(&kit.exec(&narrowed, &["run", "test"]), "PERMISSION_DENIED");
    // The same patch under the original grant is admitted.
    assert_eq!(kit.exec(&grant, &["patch", "--diff", &d]).code, 0);

    // The other hand-written blocks of docs/grant-vocabulary.md, through the stock CLI.
    let hand = |name: &str, block: &str| -> PathBuf {
        let run = biscuit(&["attenuate", &g, "--block", block]);
        assert_eq!(run.code, 0, "{block}: {run:?}");
        let path = kit.path(name);
        std::fs::write(&path, run.stdout.trim()).unwrap();
        path
    };
    let prefix = hand(
        "prefix.b64",
        r#"check if operation("proc.run") or resource($r), $r == "tests" || $r.starts_with("tests/");"#,
    );
    assert_eq!(kit.exec(&prefix, &["read", "tests/calc_test.sh"]).code, 0);
    assert_refused(
        &kit.exec(&prefix, &["read", "src/calc.sh"]),
        "PERMISSION_DENIED",
    );
    assert_eq!(
        kit.exec(&prefix, &["run", "test"]).code,
        0,
        "proc.run is not a path"
    );

    let commands = hand(
        "commands.b64",
        r#"check if operation($op), $op != "proc.run" or resource($r), {"lint"}.contains($r);"#,
    );
    assert_refused(&kit.exec(&commands, &["run", "test"]), "PERMISSION_DENIED");
    assert_eq!(kit.exec(&commands, &["read", "README.md"]).code, 0);

    let limit = hand("limit.b64", r#"check if param("read_bytes", $v), $v <= 8;"#);
    assert_refused(
        &kit.exec(&limit, &["read", "README.md"]),
        "PERMISSION_DENIED",
    );
    assert_eq!(
        kit.exec(&limit, &["read", "README.md", "--length", "8"])
            .code,
        0
    );
    // Other operations are supplied read_bytes = 0: the read limit does not block them.
    let ran = kit.exec(&limit, &["run", "test"]);
    assert!(!ran.stderr.contains("refused"), "{ran:?}");
    assert!(ran.stdout.contains("ok   - mul 4 5"), "{ran:?}");

    let expired = hand(
        "expired.b64",
        "check if time($t), $t <= 2020-01-01T00:00:00Z;",
    );
    assert_refused(
        &kit.exec(&expired, &["read", "README.md"]),
        "UNAUTHENTICATED",
    );

    // --add-ttl writes the same `time` check.
    let ttl = biscuit(&["attenuate", &g, "--block", "", "--add-ttl", "10m"]);
    assert_eq!(ttl.code, 0, "{ttl:?}");
    let ttl_path = kit.path("ttl.b64");
    std::fs::write(&ttl_path, ttl.stdout.trim()).unwrap();
    assert_eq!(kit.exec(&ttl_path, &["read", "README.md"]).code, 0);

    // And the stock CLI reads what `trustctl grant attenuate` writes.
    let ours = kit.path("ours.b64");
    let o = ours.display().to_string();
    kit.ok(&[
        "grant",
        "attenuate",
        "--grant",
        &g,
        "--public-key",
        &root,
        "--operation",
        "fs.read",
        "--out",
        &o,
    ]);
    let inspected = biscuit(&["inspect", &o, "--public-key", &root]);
    assert_eq!(inspected.code, 0, "{inspected:?}");
    assert!(inspected.stdout.contains("operation($op)"), "{inspected:?}");
}

#[test]
fn health_reports_serving_for_both_services() {
    let kit = Kit::start();
    let bin = trustctl_path();
    let authority = kit.authority();
    let run = kit.run(&[
        "health",
        "--endpoint",
        &authority,
        "--service",
        "trust.authority.v1.Authority",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("SERVING"), "{run:?}");
    let executor = kit.cluster.executor_endpoint();
    let run = kit.run(&[
        "health",
        "--endpoint",
        &executor,
        "--service",
        "trust.executor.v1.Executor",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = run_bin(&bin, &["health", "--endpoint", "http://127.0.0.1:1"]);
    assert_ne!(run.code, 0, "{run:?}");
}

#[test]
fn grant_derive_narrows_rebinds_registers_and_inspect_shows_the_chain() {
    let kit = Kit::start();
    let grant = kit.grant("derive", &["fs.read=", "proc.run=test"], "root.b64");
    let (g, authority) = (grant.display().to_string(), kit.authority());
    let agent_key = kit.agent_key.display().to_string();
    let child_key = kit.path("child.key");
    let child_pub = kit
        .ok(&["keygen", "--out", &child_key.display().to_string()])
        .stdout
        .trim()
        .to_string();
    let child = kit.path("child.b64").display().to_string();
    kit.ok(&[
        "grant",
        "derive",
        "--grant",
        &g,
        "--authority",
        &authority,
        "--key",
        &agent_key,
        "--child-pubkey",
        &child_pub,
        "--operation",
        "fs.read",
        "--prefix",
        "src",
        "--purpose",
        "read the sources",
        "--register-as",
        "coder-1",
        "--out",
        &child,
    ]);
    let shown = kit.ok(&[
        "grant",
        "inspect",
        "--grant",
        &child,
        "--authority",
        &authority,
    ]);
    assert!(shown.stdout.contains("delegation chain:"), "{shown:?}");
    assert!(shown.stdout.contains(&child_pub), "{shown:?}");
    assert!(shown.stdout.contains("read the sources"), "{shown:?}");
    // The sub-agent uses it with its own key, within the narrowing only.
    let executor = kit.executor();
    let ck = child_key.display().to_string();
    let exec = |op: &[&str]| {
        let mut args = vec![
            "exec",
            "--executor",
            &executor,
            "--grant",
            &child,
            "--key",
            &ck,
        ];
        args.extend_from_slice(op);
        kit.run(&args)
    };
    assert_eq!(exec(&["read", "src/calc.sh"]).code, 0);
    assert_eq!(exec(&["read", "README.md"]).code, 1);
    assert_eq!(exec(&["run", "test"]).code, 1);
    // The orchestrator's key no longer works on the derived grant.
    assert_eq!(
        kit.exec(&kit.path("child.b64"), &["read", "src/calc.sh"])
            .code,
        1
    );
    // Widening from the child is refused by the CLI.
    let grandchild = kit.path("grandchild.b64").display().to_string();
    let refused = kit.run(&[
        "grant",
        "derive",
        "--grant",
        &child,
        "--authority",
        &authority,
        "--key",
        &ck,
        "--child-pubkey",
        &child_pub,
        "--operation",
        "proc.run",
        "--out",
        &grandchild,
    ]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("widen") || refused.stderr.contains("not in the parent"),
        "{refused:?}"
    );
    // `--context` narrows what a grant reads of a context source; this grant reads none, and
    // a malformed flag is refused before anything is written.
    for (flag, why) in [
        ("kb:max_documents=1", "reads nothing of context source `kb`"),
        (
            "kb:classifications=secret",
            "unknown classification `secret`",
        ),
    ] {
        let refused = kit.run(&[
            "grant",
            "derive",
            "--grant",
            &child,
            "--authority",
            &authority,
            "--key",
            &ck,
            "--child-pubkey",
            &child_pub,
            "--context",
            flag,
            "--out",
            &grandchild,
        ]);
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains(why), "{flag}: {refused:?}");
    }
    assert!(!Path::new(&grandchild).exists());
}

/// A Python interpreter with `biscuit_auth` (biscuit-python) installed, if there is one:
/// `scripts/install-test-tools.sh` makes `target/interop-venv`.
fn biscuit_python() -> Option<PathBuf> {
    let venv = trust_tests::binaries::workspace_root().join("target/interop-venv/bin/python");
    let candidates = [
        std::env::var_os("TRUST_PYTHON").map(PathBuf::from),
        Some(venv),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", "import biscuit_auth"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Some(python);
        }
    }
    assert!(
        std::env::var_os("TRUST_REQUIRE_BISCUIT_PYTHON").is_none(),
        "TRUST_REQUIRE_BISCUIT_PYTHON is set but no python with biscuit_auth was found"
    );
    eprintln!("SKIPPED interop_biscuit_python: run scripts/install-test-tools.sh to install biscuit-python");
    None
}

#[test]
fn interop_biscuit_python_attenuation_is_honoured_exactly() {
    let Some(python) = biscuit_python() else {
        return;
    };
    let kit = Kit::start();
    let grant = kit.grant(
        "python",
        &["fs.read=", "fs.patch=src/", "proc.run=test"],
        "py.b64",
    );
    let root = kit.root_key();
    let script = trust_tests::binaries::workspace_root().join("scripts/interop_biscuit_python.py");
    let attenuate = |name: &str, block: &str| -> PathBuf {
        let out = kit.path(name);
        let status = Command::new(&python)
            .arg(&script)
            .arg(&grant)
            .arg(&root)
            .arg(&out)
            .arg(block)
            .status()
            .unwrap();
        assert!(status.success(), "biscuit-python failed on {block}");
        out
    };
    let read_only = attenuate(
        "py-read.b64",
        r#"check if operation($op), ["fs.read"].contains($op);"#,
    );
    assert_eq!(kit.exec(&read_only, &["read", "src/calc.sh"]).code, 0);
    assert_refused(&kit.exec(&read_only, &["run", "test"]), "PERMISSION_DENIED");
    let tests_only = attenuate(
        "py-tests.b64",
        r#"check if operation("proc.run") or resource($r), $r == "tests" || $r.starts_with("tests/");"#,
    );
    assert_eq!(
        kit.exec(&tests_only, &["read", "tests/calc_test.sh"]).code,
        0
    );
    assert_refused(
        &kit.exec(&tests_only, &["read", "src/calc.sh"]),
        "PERMISSION_DENIED",
    );
    assert_eq!(
        kit.exec(&tests_only, &["run", "test"]).code,
        1,
        "the tests run (and fail: add is buggy)"
    );
}

#[test]
fn exec_print_digest_matches_the_sdk_and_runs_nothing() {
    let bin = trustctl_path();
    let run = run_bin(
        &bin,
        &[
            "exec",
            "--executor",
            "http://127.0.0.1:1",
            "--grant",
            "/nonexistent",
            "--key",
            "/nonexistent",
            "--print-digest",
            "write",
            "deploy/release.txt",
            "--content",
            "v1",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let op = trust_proto::executor::v1::invocation::Operation::Write(
        trust_proto::executor::v1::WriteRequest {
            path: "deploy/release.txt".into(),
            content: b"v1".to_vec(),
            ..Default::default()
        },
    );
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(trust_sdk::parameters::digest(&op).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(trust_sdk::parameters::summary(&op).as_str())
    );
}
