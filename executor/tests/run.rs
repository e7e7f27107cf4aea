//! `proc.run` with real child processes in the real sandbox (the executor binary is the
//! launcher, as in production): output, status, cwd, a cleared environment, capped output,
//! and a timeout that kills every process of the tree, whatever it did to its process group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tool_executor::operations::{
    execute, NamedCommand, Operation, OperationError, OperationLimits, Outcome, RunOutcome,
};
use tool_executor::workspace::Workspace;
use trust_sandbox::{Launcher, RequiredLevel, Sandbox};

struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    ws: Workspace,
    limits: OperationLimits,
}

fn sandbox() -> Arc<Sandbox> {
    let launcher = Launcher::new(
        env!("CARGO_BIN_EXE_tool-executor"),
        vec!["__sandbox-launch".into()],
    );
    let sandbox = Sandbox::new(launcher, RequiredLevel::full());
    // No silent skip: the full level must hold on this machine and in CI.
    sandbox
        .check()
        .expect("the sandbox's full level is enforced here");
    Arc::new(sandbox)
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        fs::create_dir(&root).unwrap();
        let ws = Workspace::open(&root).unwrap();
        let limits = OperationLimits {
            sandbox: Some(sandbox()),
            writable: Arc::new(vec![String::new()]),
            ..OperationLimits::default()
        };
        Fixture {
            _tmp: tmp,
            root,
            ws,
            limits,
        }
    }

    async fn exec(&self, op: Operation) -> Result<Outcome, OperationError> {
        execute(&op, &self.ws, &self.limits).await
    }

    async fn exec_with(
        &self,
        op: Operation,
        limits: &OperationLimits,
    ) -> Result<Outcome, OperationError> {
        execute(&op, &self.ws, limits).await
    }
}

fn run_op(argv: &[&str], cwd: &str, timeout: Duration) -> Operation {
    Operation::Run {
        command: NamedCommand {
            name: "test".to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        },
        cwd: cwd.to_string(),
        timeout,
    }
}

fn expect_run(o: Outcome) -> RunOutcome {
    match o {
        Outcome::Run(r) => r,
        other => panic!("not a run outcome: {other:?}"),
    }
}

#[tokio::test]
async fn run_captures_output_status_and_cwd() {
    let f = Fixture::new();
    fs::create_dir_all(f.root.join("sub/dir")).unwrap();
    let r = expect_run(
        f.exec(run_op(&["echo", "hi", "there"], "", Duration::ZERO))
            .await
            .unwrap(),
    );
    assert_eq!(r.stdout, b"hi there\n");
    assert_eq!((r.exit_code, r.signal, r.timed_out), (0, 0, false));
    assert!(r.sandbox.contains("landlock=v"), "{}", r.sandbox);

    let r = expect_run(
        f.exec(run_op(
            &["sh", "-c", "echo oops >&2; exit 3"],
            "",
            Duration::ZERO,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(r.exit_code, 3);
    assert_eq!(r.stderr, b"oops\n");

    let r = expect_run(
        f.exec(run_op(&["sh", "-c", "kill -9 $$"], "", Duration::ZERO))
            .await
            .unwrap(),
    );
    assert_eq!((r.exit_code, r.signal), (-1, 9));

    let r = expect_run(
        f.exec(run_op(&["pwd", "-P"], "sub//dir/", Duration::ZERO))
            .await
            .unwrap(),
    );
    let expected = fs::canonicalize(f.root.join("sub/dir")).unwrap();
    assert_eq!(
        String::from_utf8(r.stdout).unwrap().trim_end(),
        expected.to_str().unwrap()
    );

    // argv is never interpreted by a shell.
    let r = expect_run(
        f.exec(run_op(&["echo", "$HOME; rm -rf /"], "", Duration::ZERO))
            .await
            .unwrap(),
    );
    assert_eq!(r.stdout, b"$HOME; rm -rf /\n");

    assert!(matches!(
        f.exec(run_op(
            &["definitely-not-a-program-xyz"],
            "",
            Duration::ZERO
        ))
        .await,
        Err(OperationError::NotFound(_))
    ));
}

#[tokio::test]
async fn run_environment_is_cleared() {
    let f = Fixture::new();
    std::env::set_var("TA_TEST_NOT_ALLOWLISTED_SECRET", "leaked-value");
    let r = expect_run(f.exec(run_op(&["env"], "", Duration::ZERO)).await.unwrap());
    let env = String::from_utf8(r.stdout).unwrap();
    assert!(!env.contains("TA_TEST_NOT_ALLOWLISTED_SECRET"), "{env}");
    assert!(!env.contains("leaked-value"));
    for line in env.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            f.limits.env_allowlist.iter().any(|a| a == name) || name == "PWD",
            "unexpected variable {name}"
        );
    }
    if let Ok(path) = std::env::var("PATH") {
        assert!(env.contains(&format!("PATH={path}")));
    }
}

#[tokio::test]
async fn run_output_is_capped_without_blocking_the_child() {
    let f = Fixture::new();
    let limits = OperationLimits {
        max_output_bytes: 1000,
        ..f.limits.clone()
    };
    // 1 MiB to each stream: more than a pipe buffer, so the child would block
    // if the excess were not drained.
    let script = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; echo done >&2";
    let r = expect_run(
        f.exec_with(run_op(&["sh", "-c", script], "", Duration::ZERO), &limits)
            .await
            .unwrap(),
    );
    assert_eq!(r.exit_code, 0);
    assert!(!r.timed_out);
    assert_eq!(r.stdout.len(), 1000);
    assert_eq!(r.stderr.len(), 1000);
    assert!(r.stdout_truncated && r.stderr_truncated);

    let r = expect_run(
        f.exec_with(run_op(&["echo", "short"], "", Duration::ZERO), &limits)
            .await
            .unwrap(),
    );
    assert!(!r.stdout_truncated && !r.stderr_truncated);
}

/// Host pids of processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if state.starts_with('Z') || state.starts_with('X') {
            continue;
        }
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(name);
        }
    }
    found
}

#[tokio::test]
async fn run_timeout_kills_the_whole_tree_even_after_setsid_and_a_double_fork() {
    let f = Fixture::new();
    let marker = format!("{}", 3_000_000 + std::process::id());
    let script = format!(
        "setsid sleep {marker} & (sleep {marker} &) ; sleep {marker} & echo started > bg.txt; sleep {marker}"
    );
    let op = run_op(&["sh", "-c", &script], "", Duration::from_millis(800));
    // Safety net only: the run must end long before this.
    let r = tokio::time::timeout(Duration::from_secs(60), f.exec(op))
        .await
        .expect("run did not return after its timeout");
    let r = expect_run(r.unwrap());
    assert!(r.timed_out);
    assert_eq!(
        fs::read_to_string(f.root.join("bg.txt")).unwrap(),
        "started\n"
    );
    let mut left = processes_with(&marker);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = processes_with(&marker);
    }
    assert!(left.is_empty(), "processes {left:?} survived the timeout");
}

#[tokio::test]
async fn run_timeout_is_capped_by_the_limit() {
    let f = Fixture::new();
    let limits = OperationLimits {
        max_run_timeout: Duration::from_millis(300),
        ..f.limits.clone()
    };
    let op = run_op(&["sleep", "30"], "", Duration::from_secs(3600));
    assert_eq!(op.params(&limits)[0], ("run_timeout_ms", 300));
    let r = expect_run(f.exec_with(op, &limits).await.unwrap());
    assert!(r.timed_out);
}
