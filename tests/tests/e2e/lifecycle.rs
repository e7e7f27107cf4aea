//! How servers stop and what they leave readable: SIGTERM, SIGHUP and a closed stdin (the
//! supervisor died) each stop a server cleanly; data directories are private (0700).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use trust_tests::binaries::binary;
use trust_tests::cluster::{Cluster, ClusterOptions};

/// Starts the cluster's authority binary on its config, as a supervisor would: stdin a pipe.
fn start_authority(cluster: &Cluster) -> Child {
    let mut child = Command::new(binary("trust-authority", "trust-authority").unwrap())
        .args(["serve", "--config"])
        .arg(&cluster.authority_config)
        .args(["--listen", "127.0.0.1:0", "--stop-when-stdin-closes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line:?}");
    child
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server was still running {within:?} after being asked to stop:\n{}",
                stderr_of(child)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
    text
}

#[test]
fn sigterm_sighup_and_a_closed_stdin_each_stop_a_server_cleanly() {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    // The cluster's own authority holds the registry's lock; stop it first.
    cluster.authority.kill9();
    for (how, expected) in [
        ("TERM", "SIGTERM"),
        ("HUP", "SIGHUP"),
        ("stdin", "stdin closed"),
    ] {
        let mut child = start_authority(&cluster);
        if how == "stdin" {
            // What the kernel does when the supervisor dies, even by SIGKILL.
            drop(child.stdin.take());
        } else {
            let status = Command::new("kill")
                .args([format!("-{how}"), child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let status = wait_exit(&mut child, Duration::from_secs(10));
        let log = stderr_of(&mut child);
        assert!(status.success(), "{how}: exit {status:?}\n{log}");
        assert!(
            log.contains(expected),
            "{how}: the log names the reason:\n{log}"
        );
    }
}

#[test]
fn data_directories_are_private() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    for dir in ["authority-data", "executor-data"] {
        let mode = std::fs::metadata(cluster.path(dir))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{dir} is {mode:o}");
    }
}
