//! Launcher stage two, PID 1 of the command's PID namespace: builds the view, applies every
//! layer, starts the command, reaps all orphans and exits with the command, which makes the
//! kernel kill whatever is left in the namespace.

use std::io::BufReader;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use landlock::{Access, AccessFs, LandlockStatus, Ruleset, RulesetAttr, ABI};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, sethostname, Pid};

use super::{bridge, serve, stdin_socket, NOT_FOUND, SETUP_FAILED};
use crate::confine;
use crate::egress::{proxy_env, socket_inside, EGRESS_PORT};
use crate::loopback;
use crate::masks;
use crate::mounts;
use crate::policy::{hidden_matcher, NetworkPolicy};
use crate::protocol::{read_line, write_line, LaunchRequest, Message, Mode, ProbeReport};

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

enum Failure {
    Setup(String),
    NotFound(String),
}

pub(super) fn main() -> i32 {
    let Ok(socket) = stdin_socket() else {
        return SETUP_FAILED;
    };
    let request: LaunchRequest = match read_line(BufReader::new(&socket)) {
        Ok(r) => r,
        Err(e) => {
            let _ = write_line(
                &mut &socket,
                &Message::SetupFailed(format!("init reading the request: {e}")),
            );
            return SETUP_FAILED;
        }
    };
    // Die with the launcher; if it is already gone, its end of the socket is closed.
    if set_pdeathsig(Signal::SIGKILL).is_err() || launcher_gone(&socket) {
        return SETUP_FAILED;
    }
    match request.mode {
        Mode::Probe => {
            let report = probe(&request);
            let _ = write_line(&mut &socket, &Message::Probe(report));
            0
        }
        Mode::Run | Mode::Serve => run(&socket, &request),
    }
}

fn launcher_gone(socket: &UnixStream) -> bool {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

fn run(socket: &UnixStream, request: &LaunchRequest) -> i32 {
    let (child, stdin) = match confine_and_start(request) {
        Ok(child) => child,
        Err(Failure::Setup(reason)) => {
            let _ = write_line(&mut &*socket, &Message::SetupFailed(reason));
            return SETUP_FAILED;
        }
        Err(Failure::NotFound(program)) => {
            let _ = write_line(&mut &*socket, &Message::NotFound(program));
            return NOT_FOUND;
        }
    };
    let _ = write_line(&mut &*socket, &Message::Started);
    if let Some(stdin) = stdin {
        if let Err(reason) = serve::relay_stdin(socket, stdin) {
            let _ = write_line(&mut &*socket, &Message::SetupFailed(reason));
            return SETUP_FAILED;
        }
    }
    let (message, code) = reap(child);
    let _ = write_line(&mut &*socket, &message);
    code
}

/// The started command, and its stdin pipe in [`Mode::Serve`].
fn confine_and_start(
    request: &LaunchRequest,
) -> Result<(Pid, Option<std::process::ChildStdin>), Failure> {
    let setup = Failure::Setup;
    let policy = request
        .policy
        .as_ref()
        .ok_or_else(|| setup("no policy in the request".to_string()))?;
    let program = request
        .argv
        .first()
        .ok_or_else(|| setup("empty argv".to_string()))?;
    let layers = &request.layers;
    if getpid().as_raw() != 1 {
        return Err(setup(
            "init is not pid 1 of a new pid namespace".to_string(),
        ));
    }
    if layers.uts_ns {
        sethostname("sandbox").map_err(|e| setup(format!("sethostname: {e}")))?;
    }
    let hidden = hidden_matcher(&policy.hidden).map_err(|e| setup(e.to_string()))?;
    let view = mounts::build(policy).map_err(setup)?;
    masks::apply(&view.workspace, &hidden, policy.max_walk_entries).map_err(setup)?;
    mounts::seal(&view).map_err(setup)?;
    let egress = match &policy.network {
        NetworkPolicy::None => false,
        NetworkPolicy::Proxy { socket } => {
            start_egress(&socket_inside(socket), layers).map_err(setup)?;
            true
        }
    };
    if !layers.rlimits {
        return Err(setup("rlimits are required".to_string()));
    }
    confine::rlimits(&policy.limits, layers.cgroup_memory).map_err(setup)?;
    if layers.landlock_abi > 0 {
        let port = egress.then_some(EGRESS_PORT);
        confine::landlock(layers.landlock_abi, &view.writable, port).map_err(setup)?;
    }
    confine::no_new_privs().map_err(setup)?;
    if !layers.seccomp {
        return Err(setup("seccomp is required".to_string()));
    }
    confine::seccomp().map_err(setup)?;

    let mut cmd = Command::new(program);
    cmd.args(&request.argv[1..])
        .env_clear()
        .current_dir(&view.cwd)
        .stdin(match request.mode {
            Mode::Serve => Stdio::piped(),
            Mode::Run | Mode::Probe => Stdio::null(),
        });
    if !policy.env.iter().any(|(k, _)| k == "PATH") {
        cmd.env("PATH", DEFAULT_PATH);
    }
    cmd.envs(policy.env.iter().map(|(k, v)| (k, v)));
    if egress {
        cmd.envs(proxy_env());
    }
    match cmd.spawn() {
        Ok(mut child) => Ok((
            Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX)),
            child.stdin.take(),
        )),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            Err(Failure::NotFound(program.clone()))
        }
        Err(e) => Err(setup(format!("starting `{program}`: {e}"))),
    }
}

/// Egress through the proxy: loopback up and alone, the bridge listening and confined. Refused
/// without Landlock TCP rules (the namespace would still hold, but nothing less than every
/// layer is applied).
fn start_egress(socket: &Path, layers: &crate::enforcement::Enforcement) -> Result<(), String> {
    if layers.landlock_abi < crate::MIN_LANDLOCK_ABI {
        return Err(format!(
            "egress through the proxy needs landlock abi {} (tcp rules); this sandbox has {}",
            crate::MIN_LANDLOCK_ABI,
            layers.landlock_abi
        ));
    }
    loopback::raise_only_loopback()?;
    // The bridge is reaped by `reap` like any orphan and dies with this process.
    drop(bridge::start(socket, layers.landlock_abi, layers.seccomp)?);
    Ok(())
}

/// Reaps every process until the command ends; returns its report and the init's exit code.
fn reap(child: Pid) -> (Message, i32) {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                return (Message::Exited(code), code)
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                let n = signal as i32;
                return (Message::Signaled(n), 128 + n);
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                return (
                    Message::SetupFailed(format!("waiting for the command: {e}")),
                    SETUP_FAILED,
                )
            }
        }
    }
}

/// Probe mode: tries a mount, `/proc`, Landlock and seccomp in this throwaway process.
fn probe(request: &LaunchRequest) -> ProbeReport {
    let l = &request.layers;
    let mut report = ProbeReport {
        user_ns: l.user_ns,
        mount_ns: l.mount_ns,
        pid_ns: l.pid_ns && getpid().as_raw() == 1,
        net_ns: l.net_ns,
        ipc_ns: l.ipc_ns,
        uts_ns: l.uts_ns,
        problems: l.problems.clone(),
        ..ProbeReport::default()
    };
    if report.mount_ns {
        let tmp = Path::new("/tmp");
        let result = mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .and_then(|()| {
            mount(
                Some("tmpfs"),
                tmp,
                Some("tmpfs"),
                MsFlags::MS_NOSUID,
                Some("size=64k"),
            )
        })
        .and_then(|()| {
            if report.pid_ns {
                mount(
                    Some("proc"),
                    tmp,
                    Some("proc"),
                    MsFlags::MS_NOSUID,
                    None::<&str>,
                )
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            report.mount_ns = false;
            report.problems.push(format!("mntns: mount: {e}"));
        }
    }
    let landlock = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self());
    match landlock {
        Ok(status) => match status.landlock {
            LandlockStatus::Available {
                effective_abi,
                kernel_abi,
            } => {
                let n = kernel_abi.unwrap_or(effective_abi as i32);
                report.landlock_abi = u8::try_from(n).unwrap_or(u8::MAX);
            }
            other => report.problems.push(format!("landlock: {other:?}")),
        },
        Err(e) => report.problems.push(format!("landlock: {e}")),
    }
    match confine::seccomp() {
        Ok(()) => report.seccomp = true,
        Err(e) => report.problems.push(e),
    }
    report
}
