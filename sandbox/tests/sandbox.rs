//! Real child processes in the real sandbox: every case of issue 12's done-when list is an exact
//! refusal or kill. Nothing is skipped: if this machine cannot apply the sandbox, the tests fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trust_sandbox::{
    check, Enforcement, Launcher, Limit, NetworkPolicy, Part, RequiredLevel, Sandbox, SandboxError,
    SandboxPolicy, SandboxedOutcome, SENSITIVE_GLOBS,
};

const TIMEOUT: Duration = Duration::from_secs(20);
const OUTPUT: u64 = 1 << 20;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_trust-sandbox-launch"), Vec::new())
}

/// The sandbox at the default (full) level; fails the test when this machine cannot apply it.
fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new(launcher(), RequiredLevel::full());
    if let Err(e) = sandbox.check() {
        panic!(
            "the sandbox cannot be applied here: {e} ({:?})",
            sandbox.enforcement().problems
        );
    }
    sandbox
}

/// A workspace with sources, secrets and a writable `build/`, next to a fake data directory and
/// a file outside.
struct Fixture {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    data: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let data = dir.path().join("data");
        for d in ["src", "config", "keys", "build", "secrets"] {
            std::fs::create_dir_all(ws.join(d)).unwrap();
        }
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(ws.join(".env"), "ROOT_ENV_SECRET\n").unwrap();
        std::fs::write(ws.join("config/.env"), "NESTED_ENV_SECRET\n").unwrap();
        std::fs::write(ws.join("keys/id_ed25519"), "WORKSPACE_KEY_SECRET\n").unwrap();
        std::fs::write(ws.join("secrets/token.txt"), "DENIED_DIR_SECRET\n").unwrap();
        std::fs::write(data.join("signing.key"), "EXECUTOR_SIGNING_KEY\n").unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "OUTSIDE_SECRET\n").unwrap();
        Fixture {
            _dir: dir,
            ws,
            data,
            outside,
        }
    }

    /// `build/` writable, `secrets/` denied by a grant rule, the sensitive class hidden.
    fn policy(&self) -> SandboxPolicy {
        let mut p = SandboxPolicy::new(&self.ws);
        p.writable = vec!["build".into()];
        p.hidden = SENSITIVE_GLOBS.iter().map(|s| s.to_string()).collect();
        p.hidden.push("secrets".into());
        p
    }
}

async fn sh(sandbox: &Sandbox, policy: &SandboxPolicy, script: &str) -> SandboxedOutcome {
    sandbox
        .run(
            policy,
            &["sh".into(), "-c".into(), script.into()],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Processes on the host whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{}: {cmdline}", name.to_string_lossy()));
            }
        }
    }
    found
}

async fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test]
async fn probe_reports_everything_enforced_on_this_machine() {
    let sandbox = sandbox();
    let e = sandbox.enforcement();
    assert!(e.landlock_abi >= 4, "landlock abi {}", e.landlock_abi);
    assert!(e.user_ns && e.mount_ns && e.pid_ns && e.net_ns && e.ipc_ns && e.uts_ns);
    assert!(e.seccomp && e.rlimits && e.cgroup_memory && e.cgroup_pids);
    assert!(e.missing().is_empty(), "{:?}", e.problems);
    let report = sandbox.report();
    assert!(report.starts_with("landlock=v"), "{report}");
    assert!(report.ends_with("rlimits=+ level=full"), "{report}");
    assert_eq!(
        trust_sandbox::probe(&launcher()).missing(),
        Vec::<Part>::new()
    );
}

#[tokio::test]
async fn a_missing_required_part_refuses_the_command_and_a_named_weaker_level_accepts_it() {
    let f = Fixture::new();
    for part in [
        Part::Seccomp,
        Part::Landlock,
        Part::CgroupMemory,
        Part::NetNs,
    ] {
        let weaker = sandbox().without(part);
        let err = weaker
            .run(&f.policy(), &["true".into()], TIMEOUT, OUTPUT)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SandboxError::Insufficient {
                level: "full".into(),
                missing: part.name().into()
            }
        );
    }
    let missing_cgroup = Enforcement::full()
        .without(Part::CgroupMemory)
        .without(Part::CgroupPids);
    assert!(check(&missing_cgroup, &RequiredLevel::full()).is_err());
    let level = RequiredLevel::parse("no-cgroup").unwrap();
    assert_eq!(check(&missing_cgroup, &level), Ok(()));

    // Accepted explicitly, it runs (memory then capped by RLIMIT_AS) and says so.
    let no_cgroup = Sandbox::new(launcher(), level)
        .without(Part::CgroupMemory)
        .without(Part::CgroupPids);
    let out = sh(&no_cgroup, &f.policy(), "cat src/main.rs").await;
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(text(&out.stdout), "fn main() {}\n");
    assert!(
        out.enforcement
            .contains("cgroup=- rlimits=+ level=no-cgroup"),
        "{}",
        out.enforcement
    );

    // Each weaker level runs without its part, and the other layers still hold.
    for (name, part) in [
        ("no-userns", Part::UserNs),
        ("no-landlock", Part::Landlock),
        ("no-ipcns", Part::IpcNs),
        ("no-utsns", Part::UtsNs),
    ] {
        let weaker = Sandbox::new(launcher(), RequiredLevel::parse(name).unwrap()).without(part);
        let script = format!(
            "cat .env; cat {o}; echo rc=$?; echo x > src/x; echo rc=$?; \
             v=$(cat /proc/sys/kernel/printk_ratelimit); \
             echo $v > /proc/sys/kernel/printk_ratelimit; echo rc=$?; \
             head -c 16 /proc/kcore | wc -c; head -c 16 /proc/kallsyms | wc -c",
            o = f.outside.display()
        );
        let out = sh(&weaker, &f.policy(), &script).await;
        assert_eq!(
            text(&out.stdout),
            "rc=1\nrc=2\nrc=2\n0\n0\n",
            "{name}: {}",
            text(&out.stderr)
        );
        assert!(out.enforcement.ends_with(&format!("level={name}")));
    }
}

#[tokio::test]
async fn reads_outside_the_workspace_fail() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let script = format!(
        "cat {o}; echo rc=$?; ls /root; echo rc=$?; cat /etc/shadow; echo rc=$?",
        o = f.outside.display()
    );
    let out = sh(&sandbox, &f.policy(), &script).await;
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(text(&out.stdout), "rc=1\nrc=2\nrc=1\n");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: No such file or directory",
            f.outside.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("/root") && err.contains("/etc/shadow"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("OUTSIDE_SECRET"));
}

#[tokio::test]
async fn env_files_keys_and_denied_folders_are_not_visible() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let out = sh(
        &sandbox,
        &f.policy(),
        "cat .env config/.env keys/id_ed25519; echo rc=$?; ls -A secrets; \
         cat secrets/token.txt; echo rc=$?; umount .env 2>/dev/null; echo rc=$?; cat .env; \
         cat src/main.rs",
    )
    .await;
    assert_eq!(out.exit_code, Some(0));
    // The masked files read as empty, the denied folder is an empty read-only folder, the
    // masks cannot be removed, and the rest of the workspace is readable.
    assert_eq!(text(&out.stdout), "rc=0\nrc=1\nrc=32\nfn main() {}\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("secrets/token.txt: No such file or directory"),
        "{err}"
    );
    for secret in ["ROOT_ENV", "NESTED_ENV", "WORKSPACE_KEY", "DENIED_DIR"] {
        assert!(!text(&out.stdout).contains(secret), "{secret} leaked");
    }
    let writable = {
        let mut p = f.policy();
        p.writable = vec![String::new()];
        p
    };
    let out = sh(
        &sandbox,
        &writable,
        "echo X > .env; echo rc=$?; rm .env; echo rc=$?; cat .env; echo end",
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "rc=2\nrc=1\nend\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(f.ws.join(".env")).unwrap(),
        "ROOT_ENV_SECRET\n"
    );
}

#[tokio::test]
async fn the_executor_data_directory_is_not_visible() {
    let f = Fixture::new();
    let sandbox = sandbox();
    // Links in the workspace resolve inside the view: to nothing, or to the masked file.
    std::os::unix::fs::symlink(&f.data, f.ws.join("src/data-link")).unwrap();
    std::os::unix::fs::symlink("../.env", f.ws.join("src/env-link")).unwrap();
    let script = format!(
        "cat {d}/signing.key; echo rc=$?; ls {d}; echo rc=$?; ls ..; echo rc=$?; \
         cat src/data-link/signing.key; echo rc=$?; cat src/env-link; echo rc=$?",
        d = f.data.display()
    );
    let out = sh(&sandbox, &f.policy(), &script).await;
    assert_eq!(
        text(&out.stdout),
        "rc=1\nrc=2\nws\nrc=0\nrc=1\nrc=0\n",
        "{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("signing.key: No such file or directory"),
        "{err}"
    );
    assert!(
        err.contains("src/data-link/signing.key: No such file or directory"),
        "{err}"
    );
}

#[tokio::test]
async fn writes_go_only_to_the_writable_part_of_the_workspace() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let script = format!(
        "echo x > src/new.rs; echo rc=$?; echo x > {o}; echo rc=$?; echo x > /usr/new; echo rc=$?; \
         echo x > /new; echo rc=$?; echo x >> /etc/hosts; echo rc=$?; echo ok > build/out; echo rc=$?; \
         echo t > /tmp/t; cat /tmp/t; echo x > {d}/new.key; echo rc=$?; \
         echo x > /root/trust-sandbox-new; echo rc=$?",
        o = f.outside.display(),
        d = f.data.display()
    );
    let out = sh(&sandbox, &f.policy(), &script).await;
    // The host path of the outside file is beneath /tmp: the write lands in the private /tmp.
    assert_eq!(
        text(&out.stdout),
        "rc=2\nrc=0\nrc=2\nrc=2\nrc=2\nrc=0\nt\nrc=2\nrc=2\n"
    );
    assert!(!f.data.join("new.key").exists());
    assert!(!Path::new("/root/trust-sandbox-new").exists());
    let err = text(&out.stderr);
    assert!(err.contains("src/new.rs: Read-only file system"), "{err}");
    assert!(err.contains("/usr/new: Read-only file system"), "{err}");
    assert!(err.contains("/etc/hosts: Read-only file system"), "{err}");
    assert!(!f.ws.join("src/new.rs").exists());
    assert_eq!(
        std::fs::read_to_string(&f.outside).unwrap(),
        "OUTSIDE_SECRET\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.ws.join("build/out")).unwrap(),
        "ok\n"
    );
}

#[tokio::test]
async fn no_tcp_udp_or_name_resolution_without_named_hosts() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let script = format!(
        "import socket\n\
         def attempt(name, f):\n\
         \x20   try:\n\
         \x20       f()\n\
         \x20       print(name, 'ok')\n\
         \x20   except OSError as e:\n\
         \x20       print(name, type(e).__name__, e.errno)\n\
         attempt('tcp', lambda: socket.create_connection(('127.0.0.1', {tp}), timeout=2))\n\
         attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {up})))\n\
         attempt('bind', lambda: socket.socket().bind(('127.0.0.1', 0)))\n\
         attempt('dns', lambda: socket.getaddrinfo('example.com', 80))\n",
        tp = tcp.local_addr().unwrap().port(),
        up = udp.local_addr().unwrap().port(),
    );
    let out = sandbox
        .run(
            &f.policy(),
            &["/usr/bin/python3".into(), "-c".into(), script],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // TCP: Landlock refuses the connect (EACCES); UDP: the namespace has no route (ENETUNREACH);
    // bind: Landlock (EACCES); DNS: no resolver reachable (gaierror).
    assert_eq!(
        stdout,
        "tcp PermissionError 13\nudp OSError 101\nbind PermissionError 13\ndns gaierror -3\n"
    );
    assert!(
        tcp.accept().is_err(),
        "a connection reached the host listener"
    );
    let mut buf = [0u8; 8];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "a datagram reached the host"
    );
    let out = sh(
        &sandbox,
        &f.policy(),
        "getent hosts example.com; echo rc=$?",
    )
    .await;
    assert_eq!(text(&out.stdout), "rc=2\n");
}

/// A stand-in for the executor's proxy: a Unix socket in a private folder that answers each
/// connection's first line with `proxied:<line>`.
fn fake_proxy() -> (tempfile::TempDir, PathBuf) {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("egress-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = dir.path().join("egress.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(&conn);
                if reader.read_line(&mut line).is_ok() {
                    let _ = (&conn).write_all(format!("proxied:{line}").as_bytes());
                }
            });
        }
    });
    (dir, socket)
}

#[tokio::test]
async fn egress_goes_only_through_the_bridge_to_the_proxy_socket() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let (_proxy_dir, socket) = fake_proxy();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let mut p = f.policy();
    p.network = NetworkPolicy::Proxy {
        socket: socket.clone(),
    };
    let script = format!(
        "import os, socket\n\
         def attempt(name, f):\n\
         \x20   try:\n\
         \x20       print(name, f())\n\
         \x20   except OSError as e:\n\
         \x20       print(name, type(e).__name__, e.errno)\n\
         def bridge():\n\
         \x20   s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n\
         \x20   s.sendall(b'hello\\n')\n\
         \x20   return s.makefile().readline().strip()\n\
         attempt('bridge', bridge)\n\
         attempt('host', lambda: socket.create_connection(('127.0.0.1', {tp}), timeout=2))\n\
         attempt('other-port', lambda: socket.create_connection(('127.0.0.1', {other}), timeout=2))\n\
         attempt('bind', lambda: socket.socket().bind(('127.0.0.1', 0)))\n\
         attempt('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 53)))\n\
         attempt('interfaces', lambda: [n for _, n in socket.if_nameindex()])\n\
         attempt('dns', lambda: socket.getaddrinfo('example.com', 80))\n\
         print('proxy', os.environ['HTTP_PROXY'], os.environ['https_proxy'], repr(os.environ['NO_PROXY']))\n",
        port = trust_sandbox::EGRESS_PORT,
        other = trust_sandbox::EGRESS_PORT + 1,
        tp = tcp.local_addr().unwrap().port(),
    );
    let out = sandbox
        .run(
            &p,
            &["/usr/bin/python3".into(), "-c".into(), script],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // The bridge reaches the proxy; Landlock refuses every other port and any bind; the
    // namespace has loopback only, so UDP has no route and names do not resolve.
    assert_eq!(lines[0], "bridge proxied:hello", "{stdout}");
    assert_eq!(lines[1], "host PermissionError 13", "{stdout}");
    assert_eq!(lines[2], "other-port PermissionError 13", "{stdout}");
    assert_eq!(lines[3], "bind PermissionError 13", "{stdout}");
    assert_eq!(lines[4], "udp OSError 101", "{stdout}");
    assert_eq!(lines[5], "interfaces ['lo']", "{stdout}");
    assert!(lines[6].starts_with("dns gaierror"), "{stdout}");
    assert_eq!(
        lines[7], "proxy http://127.0.0.1:3128 http://127.0.0.1:3128 ''",
        "{stdout}"
    );
    assert!(
        tcp.accept().is_err(),
        "a connection reached the host listener"
    );
}

#[tokio::test]
async fn egress_is_refused_when_a_part_of_it_cannot_be_applied() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let (proxy_dir, socket) = fake_proxy();
    let mut p = f.policy();
    p.network = NetworkPolicy::Proxy {
        socket: socket.clone(),
    };
    // A folder others can enter: refused before anything starts.
    std::fs::set_permissions(proxy_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = sandbox()
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SandboxError::Egress(format!(
            "proxy socket folder has mode 755; it must be 0700 (`{}`)",
            proxy_dir.path().display()
        ))
    );
    std::fs::set_permissions(proxy_dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // No socket there.
    p.network = NetworkPolicy::Proxy {
        socket: proxy_dir.path().join("absent.sock"),
    };
    let err = sandbox()
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Egress(m) if m.contains("no such file")),
        "{err}"
    );
    // Without Landlock's TCP rules the port rule cannot be applied: refused, never run.
    p.network = NetworkPolicy::Proxy { socket };
    let weaker = Sandbox::new(launcher(), RequiredLevel::parse("no-landlock").unwrap())
        .without(Part::Landlock);
    let err = weaker
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SandboxError::Setup(
            "egress through the proxy needs landlock abi 4 (tcp rules); this sandbox has 0".into()
        )
    );
}

#[tokio::test]
async fn nothing_survives_the_timeout_after_setsid_or_a_double_fork() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let started = Instant::now();
    let out = sandbox
        .run(
            &f.policy(),
            &[
                "sh".into(),
                "-c".into(),
                "setsid sleep 3011 & (sleep 3012 &) & nohup sleep 3013 >/dev/null 2>&1 & \
                 echo started; exec sleep 3014"
                    .into(),
            ],
            Duration::from_secs(1),
            OUTPUT,
        )
        .await
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.signal, Some(9));
    assert_eq!(text(&out.stdout), "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for marker in ["sleep 3011", "sleep 3012", "sleep 3013", "sleep 3014"] {
        assert_eq!(
            processes_with(marker),
            Vec::<String>::new(),
            "{marker} survived"
        );
    }
}

#[tokio::test]
async fn nothing_survives_a_command_that_exits_leaving_daemons() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let out = sh(
        &sandbox,
        &f.policy(),
        "setsid sleep 3021 >/dev/null 2>&1 & (sleep 3022 >/dev/null 2>&1 &) & echo bye",
    )
    .await;
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.timed_out);
    for marker in ["sleep 3021", "sleep 3022"] {
        assert_eq!(
            processes_with(marker),
            Vec::<String>::new(),
            "{marker} survived"
        );
    }
}

#[tokio::test]
async fn nothing_survives_a_cancelled_request() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let policy = f.policy();
    let task = tokio::spawn(async move {
        sandbox
            .run(
                &policy,
                &[
                    "sh".into(),
                    "-c".into(),
                    "setsid sleep 3031 & (sleep 3032 &) & sleep 3033".into(),
                ],
                Duration::from_secs(300),
                OUTPUT,
            )
            .await
    });
    let up = wait_until(Duration::from_secs(10), || {
        ["sleep 3031", "sleep 3032", "sleep 3033"]
            .iter()
            .all(|m| !processes_with(m).is_empty())
    })
    .await;
    assert!(up, "the command never started");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let gone = wait_until(Duration::from_secs(5), || {
        ["sleep 3031", "sleep 3032", "sleep 3033"]
            .iter()
            .all(|m| processes_with(m).is_empty())
    })
    .await;
    assert!(gone, "{:?}", processes_with("sleep 303"));
}

/// Set in the copy of this test binary that plays an executor which is then killed.
const FAKE_EXECUTOR: &str = "TRUST_SANDBOX_FAKE_EXECUTOR_WORKSPACE";

#[tokio::test]
async fn nothing_survives_the_executor_being_killed() {
    if let Some(ws) = std::env::var_os(FAKE_EXECUTOR) {
        // The fake executor: starts a long command and is killed while it runs.
        let _ = sandbox()
            .run(
                &SandboxPolicy::new(PathBuf::from(ws)),
                &[
                    "sh".into(),
                    "-c".into(),
                    "setsid sleep 3041 & (sleep 3042 &) & sleep 3043".into(),
                ],
                Duration::from_secs(300),
                OUTPUT,
            )
            .await;
        return;
    }
    let f = Fixture::new();
    let mut executor = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "nothing_survives_the_executor_being_killed",
            "--test-threads=1",
        ])
        .env(FAKE_EXECUTOR, &f.ws)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let markers = ["sleep 3041", "sleep 3042", "sleep 3043"];
    let up = wait_until(Duration::from_secs(20), || {
        markers.iter().all(|m| !processes_with(m).is_empty())
    })
    .await;
    assert!(up, "the fake executor's command never started");
    executor.kill().unwrap();
    executor.wait().unwrap();
    let gone = wait_until(Duration::from_secs(5), || {
        markers.iter().all(|m| processes_with(m).is_empty())
    })
    .await;
    assert!(gone, "{:?}", processes_with("sleep 304"));
    // The next start sweeps the dead executor's cgroup leaves.
    let _ = sandbox();
    let leftover = format!("trust-sandbox-{}-", executor.id());
    let found = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - cgroup"))
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .flat_map(|mount| walk_dirs(&mount, 3))
        .filter(|d| {
            d.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&leftover)
        })
        .collect::<Vec<_>>();
    assert_eq!(found, Vec::<PathBuf>::new());
}

fn walk_dirs(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if depth == 0 {
        return out;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
            out.extend(walk_dirs(&e.path(), depth - 1));
        }
    }
    out
}

#[tokio::test]
async fn memory_above_the_limit_is_an_oom_kill() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.limits.memory_bytes = 64 << 20;
    let out = sandbox
        .run(
            &p,
            &[
                "/usr/bin/python3".into(),
                "-c".into(),
                "x = bytearray(256 << 20); print('allocated')".into(),
            ],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(out.signal, Some(9), "{out:?}");
    assert_eq!(out.killed_by, Some(Limit::Memory));
    assert!(out.stdout.is_empty());
    // Under the limit the same program runs.
    let out = sandbox
        .run(
            &p,
            &[
                "/usr/bin/python3".into(),
                "-c".into(),
                "x = bytearray(8 << 20); print('allocated')".into(),
            ],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(text(&out.stdout), "allocated\n");
}

#[tokio::test]
async fn processes_above_the_limit_are_refused() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.limits.max_processes = 8;
    let out = sandbox
        .run(
            &p,
            &[
                "/usr/bin/python3".into(),
                "-c".into(),
                "import os, time\n\
                 n = 0\n\
                 try:\n\
                 \x20   for i in range(50):\n\
                 \x20       if os.fork() == 0:\n\
                 \x20           time.sleep(30)\n\
                 \x20           os._exit(0)\n\
                 \x20       n += 1\n\
                 except OSError as e:\n\
                 \x20   print('forked', n, 'then errno', e.errno)\n"
                    .into(),
            ],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    // The command itself and 7 children make 8; the 8th fork fails with EAGAIN.
    assert_eq!(text(&out.stdout), "forked 7 then errno 11\n", "{out:?}");
    assert_eq!(out.exit_code, Some(0));
    assert!(out.limits_hit.contains(&Limit::Processes), "{out:?}");
}

#[tokio::test]
async fn files_above_the_size_limit_are_refused() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.limits.max_file_bytes = 1 << 20;
    let out = sandbox
        .run(
            &p,
            &[
                "dd".into(),
                "if=/dev/zero".into(),
                "of=build/big".into(),
                "bs=65536".into(),
                "count=32".into(),
            ],
            TIMEOUT,
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(out.signal, Some(25), "{out:?}");
    assert_eq!(out.killed_by, Some(Limit::FileSize));
    assert_eq!(
        std::fs::metadata(f.ws.join("build/big")).unwrap().len(),
        1 << 20
    );
    let out = sh(
        &sandbox,
        &p,
        "head -c 2000000 /dev/zero > build/big2; echo rc=$?",
    )
    .await;
    assert_eq!(text(&out.stdout), "rc=153\n");
}

#[tokio::test]
async fn cpu_time_above_the_limit_is_a_kill() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.limits.cpu_secs = 1;
    let out = sandbox
        .run(
            &p,
            &[
                "/usr/bin/python3".into(),
                "-c".into(),
                "while True: pass".into(),
            ],
            // Far above the CPU cap: only the cap can end it, even on a loaded machine.
            Duration::from_secs(120),
            OUTPUT,
        )
        .await
        .unwrap();
    assert_eq!(out.signal, Some(24), "{out:?}");
    assert_eq!(out.killed_by, Some(Limit::Cpu));
}

#[tokio::test]
async fn kernel_interfaces_a_build_never_needs_are_refused() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let out = sh(
        &sandbox,
        &f.policy(),
        "unshare -U true; echo rc=$?; mount -t tmpfs none build; echo rc=$?; \
         echo x > /proc/1/mem; echo rc=$?; hostname; \
         v=$(cat /proc/sys/kernel/printk_ratelimit); echo $v > /proc/sys/kernel/printk_ratelimit; \
         echo rc=$?",
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "rc=1\nrc=32\nrc=2\nsandbox\nrc=2\n",
        "{}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("unshare failed: Operation not permitted"),
        "{err}"
    );
    assert!(
        err.contains("/proc/sys/kernel/printk_ratelimit: Read-only file system"),
        "{err}"
    );
    assert!(err.contains("/proc/1/mem: Permission denied"), "{err}");
}

#[tokio::test]
async fn setup_failures_and_missing_programs_are_exact_errors() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.cwd = "missing".into();
    let err = sandbox
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Setup(r) if r.contains("missing") && r.contains("No such file")),
        "{err}"
    );
    std::os::unix::fs::symlink("/etc", f.ws.join("escape")).unwrap();
    let mut p = f.policy();
    p.writable = vec!["escape".into()];
    let err = sandbox
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SandboxError::Setup("`escape` resolves outside the workspace".into())
    );
    let err = sandbox
        .run(&f.policy(), &["no-such-program".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert_eq!(err, SandboxError::ProgramNotFound("no-such-program".into()));
    let mut p = f.policy();
    p.extra_ro_paths = vec![f.ws.parent().unwrap().to_path_buf()];
    let err = sandbox
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Setup(r) if r.ends_with("contains the workspace")),
        "{err}"
    );
    let mut p = f.policy();
    p.max_walk_entries = 5;
    let err = sandbox
        .run(&p, &["true".into()], TIMEOUT, OUTPUT)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SandboxError::Setup("workspace has more than 5 entries to check for hidden files".into())
    );
    let mut p = f.policy();
    p.cwd = "../x".into();
    assert!(matches!(
        sandbox.run(&p, &["true".into()], TIMEOUT, OUTPUT).await,
        Err(SandboxError::InvalidPolicy(_))
    ));
}

#[tokio::test]
async fn environment_working_directory_and_output_cap() {
    let f = Fixture::new();
    let sandbox = sandbox();
    let mut p = f.policy();
    p.cwd = "src".into();
    p.env = vec![("GREETING".into(), "hello".into())];
    let out = sandbox
        .run(
            &p,
            &[
                "sh".into(),
                "-c".into(),
                "echo $GREETING; pwd; env | sort | cut -d= -f1 | tr '\\n' ' '; echo >/dev/stdout; \
                 echo e >/dev/stderr; head -c 5000 /dev/zero"
                    .into(),
            ],
            TIMEOUT,
            100,
        )
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("hello\n{}\n", f.ws.join("src").display())),
        "{stdout}"
    );
    assert!(stdout.contains("GREETING PATH PWD \n"), "{stdout}");
    assert_eq!(text(&out.stderr), "e\n");
    assert_eq!(out.stdout.len(), 100);
    assert!(out.stdout_truncated);
}
