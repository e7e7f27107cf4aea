//! Launcher stage one: joins the command's cgroup, creates the namespaces, maps the user, starts
//! the init stage and relays its reports; kills it when the executor goes away.

use std::io::{BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getegid, geteuid, getppid, Pid};

use super::{stdin_socket, SETUP_FAILED};
use crate::protocol::{read_line, write_line, LaunchRequest, Message, Mode, STAGE_ENV};

pub(super) fn main() -> i32 {
    let Ok(control) = stdin_socket() else {
        return SETUP_FAILED;
    };
    let request: LaunchRequest = match read_line(BufReader::new(&control)) {
        Ok(r) => r,
        Err(e) => {
            let _ = write_line(
                &mut &control,
                &Message::SetupFailed(format!("reading the launch request: {e}")),
            );
            return SETUP_FAILED;
        }
    };
    match run(&control, &request) {
        Ok(code) => code,
        Err(reason) => {
            let _ = write_line(&mut &control, &Message::SetupFailed(reason));
            SETUP_FAILED
        }
    }
}

/// `0 <id> 1`: the executor's user is root inside, nobody else is mapped.
fn map_ids(uid: u32, gid: u32) -> Result<(), String> {
    let w = |file: &str, text: String| {
        std::fs::write(file, text).map_err(|e| format!("writing `{file}`: {e}"))
    };
    w("/proc/self/setgroups", "deny".to_string())?;
    w("/proc/self/uid_map", format!("0 {uid} 1"))?;
    w("/proc/self/gid_map", format!("0 {gid} 1"))
}

fn run(control: &UnixStream, request: &LaunchRequest) -> Result<i32, String> {
    set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    if u32::try_from(getppid().as_raw()).ok() != Some(request.parent_pid) {
        return Err("the executor exited before the launcher started".to_string());
    }
    for procs in &request.cgroup_procs {
        std::fs::write(procs, std::process::id().to_string())
            .map_err(|e| format!("joining cgroup `{}`: {e}", procs.display()))?;
    }
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    let layers = &request.layers;
    if request.mode == Mode::Probe {
        return probe(control, request, uid, gid);
    }
    if !(layers.mount_ns && layers.pid_ns && layers.net_ns) {
        return Err("mount, pid and network namespaces are required".to_string());
    }
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNET;
    for (on, flag) in [
        (layers.user_ns, CloneFlags::CLONE_NEWUSER),
        (layers.ipc_ns, CloneFlags::CLONE_NEWIPC),
        (layers.uts_ns, CloneFlags::CLONE_NEWUTS),
    ] {
        if on {
            flags |= flag;
        }
    }
    unshare(flags).map_err(|e| format!("unshare {flags:?}: {e}"))?;
    if layers.user_ns {
        map_ids(uid, gid)?;
    }
    supervise(control, request)
}

/// Starts the init stage, hands it the request, relays its messages and reports how it ended.
fn supervise(control: &UnixStream, request: &LaunchRequest) -> Result<i32, String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let mut init = Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .env_clear()
        .env(STAGE_ENV, "2")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .map_err(|e| format!("starting the sandbox init: {e}"))?;
    let init_pid = Pid::from_raw(i32::try_from(init.id()).unwrap_or(i32::MAX));
    if let Err(e) = write_line(&mut &ours, request) {
        let _ = kill(init_pid, Signal::SIGKILL);
        let _ = init.wait();
        return Err(format!("handing the request to the sandbox init: {e}"));
    }
    let mut executor_gone = false;
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = vec![PollFd::new(ours.as_fd(), PollFlags::POLLIN)];
        if !executor_gone {
            fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                let _ = kill(init_pid, Signal::SIGKILL);
                let _ = init.wait();
                return Err(format!("poll: {e}"));
            }
            Ok(_) => {}
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let init_ready = fds.first().is_some_and(ready);
        let control_ready = fds.get(1).is_some_and(ready);
        drop(fds);
        if control_ready {
            // One-shot: the executor never writes after the request, and its end of file
            // means stop. Serve: what it writes is the command's stdin, relayed to the init.
            let n = (&*control).read(&mut buf).unwrap_or(0);
            let relayed =
                n > 0 && request.mode == Mode::Serve && (&ours).write_all(&buf[..n]).is_ok();
            if n == 0 || (request.mode == Mode::Serve && !relayed) {
                executor_gone = true;
                let _ = kill(init_pid, Signal::SIGKILL);
            }
        }
        if init_ready {
            match (&ours).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = (&*control).write_all(&buf[..n]);
                }
            }
        }
    }
    let status = init
        .wait()
        .map_err(|e| format!("waiting for the sandbox init: {e}"))?;
    let ended = status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(-1);
    let _ = write_line(&mut &*control, &Message::InitEnded(ended));
    Ok(0)
}

/// Probe mode: which namespaces can be created, then the init stage checks the rest.
fn probe(control: &UnixStream, request: &LaunchRequest, uid: u32, gid: u32) -> Result<i32, String> {
    let mut problems = Vec::new();
    let user_ns = match unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| e.to_string()) {
        Ok(()) => match map_ids(uid, gid) {
            Ok(()) => true,
            Err(e) => {
                problems.push(format!("userns: {e}"));
                false
            }
        },
        Err(e) => {
            problems.push(format!("userns: unshare: {e}"));
            false
        }
    };
    let mut try_ns = |flag: CloneFlags, name: &str| match unshare(flag) {
        Ok(()) => true,
        Err(e) => {
            problems.push(format!("{name}: unshare: {e}"));
            false
        }
    };
    let mount_ns = try_ns(CloneFlags::CLONE_NEWNS, "mntns");
    let pid_ns = try_ns(CloneFlags::CLONE_NEWPID, "pidns");
    let net_ns = try_ns(CloneFlags::CLONE_NEWNET, "netns");
    let ipc_ns = try_ns(CloneFlags::CLONE_NEWIPC, "ipcns");
    let uts_ns = try_ns(CloneFlags::CLONE_NEWUTS, "utsns");
    let mut request = request.clone();
    request.layers.user_ns = user_ns;
    request.layers.mount_ns = mount_ns;
    request.layers.pid_ns = pid_ns;
    request.layers.net_ns = net_ns;
    request.layers.ipc_ns = ipc_ns;
    request.layers.uts_ns = uts_ns;
    request.layers.problems = problems;
    supervise(control, &request)
}
