//! What [`Sandbox::run`] and [`Sandbox::serve`] share: checking a command and its policy,
//! creating its cgroup, encoding the launch request and starting the launcher with the
//! control socket as its stdin. Nothing starts when a check fails.

use std::os::fd::OwnedFd;
use std::process::Stdio;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Child;

use crate::cgroup::CgroupLeaf;
use crate::error::{io_text, SandboxError};
use crate::policy::{NetworkPolicy, SandboxPolicy};
use crate::protocol::{LaunchRequest, Mode};
use crate::run::Sandbox;

/// A launcher just started: the request it still has to be sent, and its control socket.
pub(crate) struct Launched {
    pub child: Child,
    /// The launch request, one JSON line, for the caller to write (within its own deadline).
    pub request_line: Vec<u8>,
    /// The launcher's messages.
    pub control_read: OwnedReadHalf,
    /// Where the request goes; closing it makes the launcher take the namespace down.
    pub control_write: OwnedWriteHalf,
    /// The command tree's cgroup, when the kernel offers the controllers.
    pub leaf: Option<CgroupLeaf>,
}

impl Sandbox {
    /// Checks `argv` and `policy` against what this sandbox enforces, then starts the launcher
    /// in `mode`. Refuses (starting nothing) an invalid policy, an empty argv or one with a
    /// nul byte, a required layer that is missing, and an egress socket that is unsafe.
    pub(crate) fn launch(
        &self,
        mode: Mode,
        policy: &SandboxPolicy,
        argv: &[String],
    ) -> Result<Launched, SandboxError> {
        policy.validate()?;
        if argv.first().is_none_or(String::is_empty) {
            return Err(SandboxError::InvalidPolicy("empty argv".to_string()));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(SandboxError::InvalidPolicy(
                "argv contains a nul byte".to_string(),
            ));
        }
        self.check()?;
        if let NetworkPolicy::Proxy { socket } = &policy.network {
            crate::egress::check_socket(socket)?;
        }
        let leaf = self.cgroup_leaf(policy)?;
        let request = LaunchRequest {
            mode,
            parent_pid: std::process::id(),
            layers: self.enforcement().clone(),
            policy: Some(policy.clone()),
            argv: argv.to_vec(),
            cgroup_procs: leaf
                .as_ref()
                .map(CgroupLeaf::procs_files)
                .unwrap_or_default(),
        };
        let mut request_line = serde_json::to_vec(&request)
            .map_err(|e| SandboxError::Io(format!("encoding the request: {e}")))?;
        request_line.push(b'\n');

        let io = |e: std::io::Error| SandboxError::Io(io_text(&e));
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(io)?;
        ours.set_nonblocking(true).map_err(io)?;
        let launcher = self.launcher();
        let mut cmd = tokio::process::Command::new(launcher.program());
        cmd.args(launcher.args())
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let spawned = cmd.spawn();
        // The command keeps its copy of the launcher's end until dropped.
        drop(cmd);
        let child = spawned.map_err(|e| SandboxError::Launcher {
            program: launcher.program().display().to_string(),
            reason: io_text(&e),
        })?;
        let control = tokio::net::UnixStream::from_std(ours).map_err(io)?;
        let (control_read, control_write) = control.into_split();
        Ok(Launched {
            child,
            request_line,
            control_read,
            control_write,
            leaf,
        })
    }
}
