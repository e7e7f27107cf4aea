//! Probes once, at start, what this kernel enforces: the launcher tries each namespace, a mount,
//! `/proc`, Landlock and seccomp in a throwaway process; the cgroup hierarchy is tried here.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cgroup::{self, CgroupSupport};
use crate::enforcement::Enforcement;
use crate::error::io_text;
use crate::launcher::Launcher;
use crate::protocol::{read_line, write_line, LaunchRequest, Message, Mode, ProbeReport};

/// What this kernel enforces for commands started through `launcher`. Never fails: a part that
/// cannot be shown to work is reported missing, with the reason in `problems`.
pub fn probe(launcher: &Launcher) -> Enforcement {
    probe_with_cgroup(launcher).0
}

pub(crate) fn probe_with_cgroup(launcher: &Launcher) -> (Enforcement, Option<CgroupSupport>) {
    let mut problems = Vec::new();
    let cgroup = cgroup::detect(&mut problems);
    let report = match probe_launcher(launcher) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("launcher probe: {e}"));
            ProbeReport::default()
        }
    };
    problems.extend(report.problems);
    let rlimits = match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE) {
        Ok(_) => true,
        Err(e) => {
            problems.push(format!("rlimits: {e}"));
            false
        }
    };
    let enforcement = Enforcement {
        landlock_abi: report.landlock_abi,
        user_ns: report.user_ns,
        mount_ns: report.mount_ns,
        pid_ns: report.pid_ns,
        net_ns: report.net_ns,
        ipc_ns: report.ipc_ns,
        uts_ns: report.uts_ns,
        seccomp: report.seccomp,
        cgroup: cgroup.as_ref().map(CgroupSupport::version),
        cgroup_memory: cgroup.as_ref().is_some_and(CgroupSupport::memory),
        cgroup_pids: cgroup.as_ref().is_some_and(CgroupSupport::pids),
        rlimits,
        problems,
    };
    (enforcement, cgroup)
}

fn probe_launcher(launcher: &Launcher) -> Result<ProbeReport, String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| io_text(&e))?;
    let mut child = Command::new(launcher.program())
        .args(launcher.args())
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "starting `{}`: {}",
                launcher.program().display(),
                io_text(&e)
            )
        })?;
    let request = LaunchRequest {
        mode: Mode::Probe,
        parent_pid: std::process::id(),
        layers: Enforcement::default(),
        policy: None,
        argv: Vec::new(),
        cgroup_procs: Vec::new(),
    };
    let result = (|| {
        write_line(&mut &ours, &request).map_err(|e| io_text(&e))?;
        ours.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| io_text(&e))?;
        let mut reader = std::io::BufReader::new(&ours);
        loop {
            match read_line::<_, Message>(&mut reader) {
                Ok(Message::Probe(report)) => return Ok(report),
                Ok(Message::SetupFailed(reason)) => return Err(reason),
                Ok(_) => continue,
                Err(e) => return Err(format!("no probe report: {}", io_text(&e))),
            }
        }
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}
