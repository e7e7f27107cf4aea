//! The secrets broker through real servers over TLS: a secret an operator put (through
//! `trustctl`, on standard input) is injected into a sandboxed child that prints it raw, to
//! stderr, base64 at three alignments, base64url, hex in both cases, URL-encoded, reversed,
//! JSON-escaped and split across two writes; none of it appears in the response, the servers'
//! logs, the provenance export or any file of the cluster, and the records name the reference.
//! A reference to a secret that was never put refuses the run (recorded); a grant carrying a
//! reference cannot outlive `secret_max_ttl`. Then the pre-commit hook that
//! `trustctl secrets install-hooks` writes refuses commits holding a managed value (raw or
//! base64) in a real git repository, and accepts others.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_sdk::provenance::{ProvenanceEntry, RecordKind};
use trust_tests::cluster::coding_profile;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// The managed value: a space, a quote, `+` and `/` make its URL, JSON and base64 forms differ.
const TOKEN: &str = "npm_Zq8+/xY3k~v9 T0k3n\"s3cr3t";

/// What the `leak` command prints, each line tagged.
const LEAK_SCRIPT: &str = r#"T="$LEAK_TOKEN"
printf 'raw:%s\n' "$T"
printf 'err:%s\n' "$T" >&2
printf 'b64-0:'; printf '%s' "$T" | base64 -w0; echo
printf 'b64-1:'; printf 'x%s' "$T" | base64 -w0; echo
printf 'b64-2:'; printf 'xy%s' "$T" | base64 -w0; echo
printf 'b64url:'; printf '%s' "$T" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo
printf 'hex:'; printf '%s' "$T" | od -An -tx1 | tr -d ' \n'; echo
printf 'HEX:'; printf '%s' "$T" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo
printf 'url:'; printf '%s' "$T" | od -An -tx1 | tr -d ' \n' | sed 's/\(..\)/%\1/g'; echo
printf 'rev:'; printf '%s\n' "$T" | rev
printf 'json:'; printf '%s' "$T" | sed 's/"/\\"/g'; echo
head="${T%????????????}"
printf 'split:%s' "$head"; sleep 0.3; printf '%s\n' "${T#"$head"}"
echo done"#;

fn profile() -> String {
    let base = coding_profile().unwrap();
    let base = base.replacen(
        "max_ttl = \"1h\"\n",
        "max_ttl = \"1h\"\nsecret_max_ttl = \"10m\"\n",
        1,
    );
    let base = base.replacen(
        "[commands]\n",
        &format!(
            "[commands]\nleak = [\"sh\", \"-c\", '''{LEAK_SCRIPT}''']\nleak-missing = [\"sh\", \"-c\", \"echo never\"]\n"
        ),
        1,
    );
    base + r#"
[[allow]]
id = "run-leak"
operations = ["proc.run"]
resources = ["leak", "leak-missing"]

[[secret]]
name = "leak-token"
operation = "proc.run"
resource = "leak"
inject = "env:LEAK_TOKEN"

[[secret]]
name = "absent-token"
operation = "proc.run"
resource = "leak-missing"
inject = "env:ABSENT_TOKEN"
"#
}

/// A TLS cluster whose executor has a sealing key (0600, outside its data directory) and a
/// secret admin; returns it with the admin's key file.
fn secrets_cluster() -> (Cluster, PathBuf) {
    secrets_cluster_with(profile())
}

/// [`secrets_cluster`] with another profile.
fn secrets_cluster_with(profile: String) -> (Cluster, PathBuf) {
    let options = ClusterOptions {
        profile: Some(profile),
        start_executor: false,
        ..Default::default()
    };
    let mut cluster = Cluster::start(options).unwrap();
    let key_file = cluster.path("secrets.key");
    let out = trustctl(
        &["secrets", "new-key", "--out", key_file.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let admin = trust_sdk::keys::generate();
    let admin_file = cluster.path("secret-admin.key");
    trust_sdk::keys::save(&admin, &admin_file).unwrap();
    let config = std::fs::read_to_string(&cluster.executor_config).unwrap();
    let config = format!(
        "secrets_key_file = \"secrets.key\"\n{config}\n[[secret_admin_keys]]\nid = \"ops\"\npublic_key = \"{}\"\n",
        hex::encode(admin.verifying_key().as_bytes())
    );
    std::fs::write(&cluster.executor_config, config).unwrap();
    cluster.start_executor().unwrap();
    (cluster, admin_file)
}

fn trustctl(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let bin = trust_tests::binaries::binary("trustctl", "trustctl").unwrap();
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("TRUST_EXECUTOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// `trustctl secrets <sub> NAME? --executor .. --ca .. --admin ops --key ..`.
fn admin_args<'a>(cluster: &'a Cluster, admin_file: &'a Path, endpoint: &'a str) -> Vec<String> {
    vec![
        "--executor".into(),
        endpoint.into(),
        "--ca".into(),
        cluster.ca_file().unwrap().display().to_string(),
        "--admin".into(),
        "secret-admin:ops".into(),
        "--key".into(),
        admin_file.display().to_string(),
    ]
}

fn put_secret(cluster: &Cluster, admin_file: &Path, name: &str, value: &str) {
    let endpoint = cluster.executor_endpoint();
    let mut args = vec!["secrets".to_string(), "put".into(), name.into()];
    args.extend(admin_args(cluster, admin_file, &endpoint));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trustctl(&args, Some(&format!("{value}\n")));
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("stored secret `{name}` version 1"))
    );
}

fn percent(value: &str, upper: bool, every_byte: bool) -> String {
    value
        .bytes()
        .map(|b| {
            let keep = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            match (keep && !every_byte, upper) {
                (true, _) => char::from(b).to_string(),
                (false, true) => format!("%{b:02X}"),
                (false, false) => format!("%{b:02x}"),
            }
        })
        .collect()
}

/// The value and every encoding the child printed, each in full.
fn needles() -> Vec<(String, String)> {
    vec![
        ("raw".into(), TOKEN.into()),
        ("first half".into(), TOKEN[..14].into()),
        ("second half".into(), TOKEN[14..].into()),
        ("base64".into(), STANDARD.encode(TOKEN)),
        ("base64 at 1".into(), STANDARD.encode(format!("x{TOKEN}"))),
        ("base64 at 2".into(), STANDARD.encode(format!("xy{TOKEN}"))),
        ("base64url".into(), URL_SAFE_NO_PAD.encode(TOKEN)),
        ("hex".into(), hex::encode(TOKEN)),
        ("HEX".into(), hex::encode_upper(TOKEN)),
        ("url every byte".into(), percent(TOKEN, false, true)),
        ("url".into(), percent(TOKEN, true, false)),
        ("reversed".into(), TOKEN.chars().rev().collect()),
        ("json".into(), TOKEN.replace('"', "\\\"")),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for (form, needle) in needles() {
        assert!(
            !text.contains(&needle),
            "{what} holds the {form} form `{needle}`:\n{text}"
        );
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(files(&path));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_secret_never_leaves_the_executor_in_any_encoding() {
    let (cluster, admin_file) = secrets_cluster();
    put_secret(&cluster, &admin_file, "leak-token", TOKEN);

    // Listing shows the name and version, never the value.
    let endpoint = cluster.executor_endpoint();
    let mut args = vec!["secrets".to_string(), "list".into()];
    args.extend(admin_args(&cluster, &admin_file, &endpoint));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listed = trustctl(&args, None);
    let listed_text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.status.success() && listed_text.starts_with("leak-token\tversion 1"),
        "{listed:?}"
    );
    assert_clean("secrets list", &listed_text);

    // A grant carrying the reference may not outlive `secret_max_ttl` (10m): a longer request
    // is refused, an unstated one is shortened.
    let mut client = cluster.authority_client().await.unwrap();
    let spec = |ttl| trust_sdk::client::GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "publish".into(),
        purpose: "leak test".into(),
        scopes: vec![("proc.run".into(), "leak".into())],
        ttl,
        ..Default::default()
    };
    let long = client
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &spec(Some(Duration::from_secs(1800))),
        )
        .await
        .unwrap();
    assert_eq!(long.effect, Effect::Deny, "{long:?}");
    assert_eq!(long.rule_ids, vec!["secret-ttl".to_string()]);
    assert!(
        long.reason.contains("secret references (`leak-token`)")
            && long.reason.contains("secret_max_ttl of 10m"),
        "{}",
        long.reason
    );
    let answer = client
        .request_grant(&cluster.agent_id, &cluster.agent_key, &spec(None))
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let lifetime = answer.expires_at_ms - trust_sdk::clock::now_ms();
    assert!(lifetime <= 600_000 && lifetime > 500_000, "{lifetime} ms");
    let grant = answer.grant.clone().unwrap();
    // The grant names the reference, never the value.
    assert!(!grant.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));

    let mut exec = cluster.executor_client().await.unwrap();
    let ran = exec
        .execute(&grant, &cluster.agent_key, run("leak"))
        .await
        .unwrap();
    let Some(R::Run(ran)) = ran.result else {
        panic!("not a run result")
    };
    let stdout = String::from_utf8_lossy(&ran.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert_eq!(ran.exit_code, 0, "{stdout}\n{stderr}");
    // The child did get the value (each line is there, with the marker where the value was).
    assert!(stdout.contains("raw:[secret:leak-token]\n"), "{stdout}");
    assert!(stdout.contains("split:[secret:leak-token]\n"), "{stdout}");
    assert!(stdout.contains("rev:[secret:leak-token]\n"), "{stdout}");
    assert!(stdout.contains("json:[secret:leak-token]\n"), "{stdout}");
    assert!(
        stdout.contains("hex:[secret:leak-token]\n")
            && stdout.contains("HEX:[secret:leak-token]\n"),
        "{stdout}"
    );
    assert!(stdout.contains("url:[secret:leak-token]\n"), "{stdout}");
    for tag in ["b64-0:", "b64-1:", "b64-2:", "b64url:"] {
        let line = stdout.lines().find(|l| l.starts_with(tag)).unwrap();
        assert!(line.contains("[secret:leak-token]"), "{line}");
    }
    assert!(stdout.ends_with("done\n"), "{stdout}");
    assert_eq!(stderr, "err:[secret:leak-token]\n");
    assert_clean("stdout", &stdout);
    assert_clean("stderr", &stderr);

    // A reference to a secret that was never put refuses the run before it starts, recorded.
    let missing = cluster
        .grant("publish-missing", &[("proc.run", "leak-missing")])
        .await
        .unwrap();
    let refused = exec
        .execute(
            &missing.grant.unwrap(),
            &cluster.agent_key,
            run("leak-missing"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "FailedPrecondition", "{refused}");
    assert!(
        refused
            .to_string()
            .contains("secret-reference: secret `absent-token` is not in the store"),
        "{refused}"
    );

    // The provenance export names the reference and holds no form of the value.
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let export = lines.join("\n");
    assert_clean("the provenance export", &export);
    let records: Vec<_> = lines
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) => Some(r),
                _ => None,
            },
        )
        .collect();
    let used = "secret leak-token for proc.run leak as env:LEAK_TOKEN";
    assert!(
        records
            .iter()
            .any(|r| r.kind == RecordKind::Intent && r.reasons.iter().any(|x| x == used)),
        "{records:?}"
    );
    assert!(records
        .iter()
        .any(|r| r.kind == RecordKind::Outcome && r.reasons.iter().any(|x| x == used)));
    assert!(
        records.iter().any(|r| r.kind == RecordKind::Refusal
            && r.resources == vec!["leak-missing".to_string()]
            && r.reasons.first().map(String::as_str) == Some("secret-reference")),
        "{records:?}"
    );

    // Nor do the servers' logs, nor any file of the cluster (sealed store, provenance, logs).
    drop(exec);
    let logs = std::fs::read_to_string(cluster.path("executor.log")).unwrap()
        + &std::fs::read_to_string(cluster.path("authority.log")).unwrap();
    assert!(
        logs.contains("secret put"),
        "the executor log was not captured"
    );
    assert_clean("the servers' logs", &logs);
    for file in files(cluster.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (form, needle) in needles().into_iter().filter(|(f, _)| !f.contains("half")) {
            assert!(
                !text.contains(&needle),
                "{} holds the {form} form",
                file.display()
            );
        }
    }
}

fn git(repo: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("HOME", repo)
        .env_remove("GIT_DIR")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_commit_hook_refuses_a_managed_value_and_accepts_other_commits() {
    let (cluster, admin_file) = secrets_cluster();
    let value = "ghp_R4nd0mT0k3nV4lu3-for-hooks";
    put_secret(&cluster, &admin_file, "gh-token", value);
    let endpoint = cluster.executor_endpoint();
    let prints = cluster.path("fingerprints.json");
    let mut args = vec![
        "secrets".to_string(),
        "fingerprints".into(),
        "--out".into(),
        prints.display().to_string(),
    ];
    args.extend(admin_args(&cluster, &admin_file, &endpoint));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = trustctl(&args, None);
    assert!(out.status.success(), "{out:?}");
    let cached = std::fs::read_to_string(&prints).unwrap();
    assert!(!cached.contains(value) && !cached.contains(&STANDARD.encode(value)));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&prints).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let repo = cluster.path("repo");
    std::fs::create_dir(&repo).unwrap();
    assert!(git(&repo, &["init", "-q"]).status.success());
    // A hook the repository already had: kept, and run after the scan.
    let hooks = repo.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("pre-commit"),
        "#!/bin/sh\necho ran >> \"$(git rev-parse --git-dir)/old-hook-ran\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        hooks.join("pre-commit"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let install = [
        "secrets",
        "install-hooks",
        "--repo",
        repo.to_str().unwrap(),
        "--fingerprints",
        prints.to_str().unwrap(),
    ];
    let first = trustctl(&install, None);
    assert!(first.status.success(), "{first:?}");
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("kept the existing hook"),
        "{first:?}"
    );
    let again = trustctl(&install, None);
    let again_text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success()
            && again_text.contains("pre-commit: already installed")
            && again_text.contains("pre-push: already installed"),
        "{again:?}"
    );

    // A clean commit passes, and the old hook ran.
    std::fs::write(repo.join("README"), "nothing secret here\n").unwrap();
    git(&repo, &["add", "README"]);
    let ok = git(&repo, &["commit", "-q", "-m", "clean"]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(repo.join(".git/old-hook-ran").exists());

    // The raw value is refused, naming the secret and the line; nothing is committed.
    std::fs::write(repo.join("config.env"), format!("A=1\nTOKEN={value}\n")).unwrap();
    git(&repo, &["add", "config.env"]);
    let refused = git(&repo, &["commit", "-q", "-m", "leak"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        stderr.contains("config.env:2 adds a form of managed secret `gh-token`"),
        "{stderr}"
    );
    let log = git(&repo, &["log", "--oneline"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 1);

    // So is a base64 form inside a longer encoded string (another alignment).
    std::fs::write(
        repo.join("config.env"),
        format!("A=1\nAUTH={}\n", STANDARD.encode(format!("user:{value}"))),
    )
    .unwrap();
    git(&repo, &["add", "config.env"]);
    let refused = git(&repo, &["commit", "-q", "-m", "leak-b64"]);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("managed secret `gh-token`"));

    // Once the value is gone the commit goes through.
    std::fs::write(repo.join("config.env"), "A=1\nTOKEN=${GH_TOKEN}\n").unwrap();
    git(&repo, &["add", "config.env"]);
    let ok = git(&repo, &["commit", "-q", "-m", "clean again"]);
    assert!(ok.status.success(), "{ok:?}");
}

/// A loopback server that echoes each request's head back in the body and its `X-Api-Key`
/// header back as a response header (or, for `/redirect`, redirects to `redirect_to`); keeps
/// the heads it received.
async fn echo_server(
    redirect_to: Option<u16>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heads = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let key = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("x-api-key: ")
                        .or(l.strip_prefix("X-Api-Key: "))
                })
                .unwrap_or_default()
                .to_string();
            heads.lock().unwrap().push(head.clone());
            let reply = match redirect_to {
                Some(other) if head.starts_with("GET /redirect ") => format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{other}/landed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                _ => format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Echo: {key}\r\nConnection: close\r\n\r\n{head}",
                head.len()
                ),
            };
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_header_reaches_the_server_and_its_echo_never_leaves_the_executor() {
    // A second granted server, without the secret: a redirect there must not carry it.
    let (other_port, other_seen) = echo_server(None).await;
    let other = format!("127.0.0.1:{other_port}");
    let (port, seen) = echo_server(Some(other_port)).await;
    let destination = format!("127.0.0.1:{port}");
    let extra = format!(
        r#"
[[allow]]
id = "echo-api"
operations = ["net.http"]
resources = ["{destination}", "{other}"]

[[secret]]
name = "api-key"
operation = "net.http"
resource = "{destination}"
inject = "header:X-Api-Key"
"#
    );
    // Without the coding profile's approval rule for `net.http` (every host needs approval).
    let approval =
        "[[approval]]\nid = \"network\"\noperations = [\"net.http\"]\nresources = [\"*\"]\n";
    assert!(profile().contains(approval), "the approval rule moved");
    let (cluster, admin_file) = secrets_cluster_with(profile().replace(approval, "") + &extra);
    put_secret(&cluster, &admin_file, "api-key", TOKEN);
    let answer = cluster
        .grant(
            "call-api",
            &[
                ("net.http", destination.as_str()),
                ("net.http", other.as_str()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    // The agent even sets its own `X-Api-Key`: the secret replaces it.
    let agent_headers = vec![("X-Api-Key".to_string(), "agent-guess".to_string())];
    let answered = exec
        .http_request(
            &grant,
            &cluster.agent_key,
            "GET",
            &format!("http://{destination}/echo"),
            &agent_headers,
            b"",
        )
        .await
        .unwrap();
    let Some(R::Http(http)) = answered.result else {
        panic!("not an http result")
    };
    assert_eq!(http.status, 200);
    // The server got the value, once, and not the agent's guess.
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains(&format!("x-api-key: {}", TOKEN.to_ascii_lowercase())),
        "{heads:?}"
    );
    assert!(!heads[0].contains("agent-guess"), "{heads:?}");
    // Its echo (in the body and in a header) comes back as the marker only.
    let body = String::from_utf8_lossy(&http.body).into_owned();
    assert!(body.contains("[secret:api-key]"), "{body}");
    let echoed = http
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-echo"))
        .unwrap();
    assert_eq!(echoed.value, "[secret:api-key]");
    assert_clean("the response body", &body);
    for h in &http.headers {
        assert_clean("a response header", &h.value);
    }

    // A redirect to another (granted) origin drops the secret header: the other server never
    // sees the value, and neither does the agent.
    let redirected = exec
        .http_request(
            &grant,
            &cluster.agent_key,
            "GET",
            &format!("http://{destination}/redirect"),
            &[],
            b"",
        )
        .await
        .unwrap();
    let Some(R::Http(redirected)) = redirected.result else {
        panic!("not an http result")
    };
    assert_eq!(redirected.status, 200);
    assert_eq!(redirected.redirects, vec![format!("http://{other}/landed")]);
    let landed = other_seen.lock().unwrap().clone();
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert!(
        !landed[0].to_ascii_lowercase().contains("x-api-key"),
        "{landed:?}"
    );
    assert_clean("the other origin's request", &landed[0]);
    assert_clean(
        "the redirected response",
        &String::from_utf8_lossy(&redirected.body),
    );

    // Provenance names the reference; neither it nor the logs hold any form of the value.
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let export = lines.join("\n");
    assert_clean("the provenance export", &export);
    assert!(
        export.contains(&format!(
            "secret api-key for net.http {destination} as header:X-Api-Key"
        )),
        "{export}"
    );
    drop(exec);
    let logs = std::fs::read_to_string(cluster.path("executor.log")).unwrap()
        + &std::fs::read_to_string(cluster.path("authority.log")).unwrap();
    assert_clean("the servers' logs", &logs);
}
