//! A long-running command in the sandbox with its stdin and stdout open (`Sandbox::serve`, what
//! the executor runs a stdio MCP server with): lines go in and come back through both launcher
//! stages, the command is confined like a one-shot run, and dropping it ends its whole tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use trust_sandbox::{Launcher, RequiredLevel, Sandbox, SandboxError, SandboxPolicy};

const START: Duration = Duration::from_secs(20);

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new(
        Launcher::new(env!("CARGO_BIN_EXE_trust-sandbox-launch"), Vec::new()),
        RequiredLevel::full(),
    );
    if let Err(e) = sandbox.check() {
        panic!("the sandbox cannot be applied here: {e}");
    }
    sandbox
}

#[tokio::test]
async fn a_served_command_talks_over_stdio_inside_its_bounds_and_dies_with_its_handle() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("out")).unwrap();
    let outside = ws.join("not-writable.txt");
    let mut policy = SandboxPolicy::new(&ws);
    policy.writable = vec!["out".into()];
    let marker = format!("served-{}", std::process::id());
    let script = format!(
        "while read -r l; do echo \"$l\" > out/last; echo \"got $l\"; \
         (echo x > {outside}) 2>/dev/null; done; echo {marker} >/dev/null",
        outside = outside.display()
    );
    let served = sandbox()
        .serve(&policy, &["sh".into(), "-c".into(), script], START)
        .await
        .unwrap();
    let mut stdin = served.stdin;
    let mut stdout = BufReader::new(served.stdout).lines();
    let mut handle = served.handle;
    for word in ["one", "two"] {
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        let line = tokio::time::timeout(START, stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(line, format!("got {word}"));
    }
    assert_eq!(
        std::fs::read_to_string(ws.join("out/last")).unwrap(),
        "two\n"
    );
    assert!(
        !outside.exists(),
        "the served command wrote outside its writable folder"
    );

    // End of input is the end of the service: the launcher takes the namespace down, and
    // the handle says so.
    drop(stdin);
    let ended = tokio::time::timeout(START, handle.ended()).await.unwrap();
    assert_eq!(ended, "stopped: its sandbox was taken down (signal 9)");
    assert!(tokio::time::timeout(START, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_missing_program_is_refused_before_anything_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let policy = SandboxPolicy::new(dir.path());
    let err = sandbox()
        .serve(&policy, &["/no/such/server".into()], START)
        .await
        .unwrap_err();
    assert_eq!(err, SandboxError::ProgramNotFound("/no/such/server".into()));
}
