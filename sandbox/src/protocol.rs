//! The launcher's wire: one JSON request line in, JSON message lines out, over the socket on fd 0.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::enforcement::Enforcement;
use crate::policy::SandboxPolicy;

/// Environment variable that tells a re-executed launcher it is the second stage.
pub(crate) const STAGE_ENV: &str = "TRUST_SANDBOX_STAGE";

/// Longest request line accepted by the launcher.
pub(crate) const MAX_REQUEST_BYTES: u64 = 16 << 20;

/// What the launcher is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mode {
    /// Confine and run a command.
    Run,
    /// Try each confinement step and report what works.
    Probe,
    /// Confine and start a long-running command whose standard input comes over the control
    /// socket: after `Started`, every byte the executor writes is relayed by both stages to
    /// the command's stdin (its stdout and stderr are the launcher's, inherited). The executor
    /// writes nothing before `Started`, so neither stage ever reads input with the request.
    Serve,
}

/// The request the executor writes to the launcher (and the launcher forwards to its init).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LaunchRequest {
    pub mode: Mode,
    /// The process that must stay the launcher's parent (closes the `PR_SET_PDEATHSIG` race).
    pub parent_pid: u32,
    /// The parts to apply (the probed enforcement); any failure among them is fatal.
    pub layers: Enforcement,
    pub policy: Option<SandboxPolicy>,
    pub argv: Vec<String>,
    /// `cgroup.procs` files the launcher joins before creating its namespaces.
    pub cgroup_procs: Vec<PathBuf>,
}

/// What the namespace's init reports, what the launcher adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// Every layer is applied and the command was started.
    Started,
    /// A confinement step failed; the command did not run.
    SetupFailed(String),
    /// The program is missing or not executable inside the sandbox.
    NotFound(String),
    /// The command exited with this code.
    Exited(i32),
    /// The command was killed by this signal.
    Signaled(i32),
    /// The init process itself ended (code, or negative signal number); sent by the launcher.
    InitEnded(i32),
    /// Probe results.
    Probe(ProbeReport),
}

/// What the probe found inside the launcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct ProbeReport {
    pub landlock_abi: u8,
    pub user_ns: bool,
    pub mount_ns: bool,
    pub pid_ns: bool,
    pub net_ns: bool,
    pub ipc_ns: bool,
    pub uts_ns: bool,
    pub seccomp: bool,
    pub problems: Vec<String>,
}

/// Writes `value` as one JSON line.
pub(crate) fn write_line<W: Write, T: Serialize>(w: &mut W, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Reads one JSON line (bounded).
pub(crate) fn read_line<R: BufRead, T: DeserializeOwned>(r: R) -> std::io::Result<T> {
    let mut line = Vec::new();
    let mut limited = std::io::Read::take(r, MAX_REQUEST_BYTES);
    limited.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no request",
        ));
    }
    serde_json::from_slice(&line).map_err(std::io::Error::other)
}
