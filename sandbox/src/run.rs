//! Runs one command in the sandbox: starts the launcher, hands it the request, captures capped
//! output, enforces the timeout, and makes sure the whole tree is gone before returning.

use std::process::ExitStatus;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::cgroup::{CgroupLeaf, CgroupSupport, LimitEvents};
use crate::enforcement::{check, Enforcement, Part, RequiredLevel};
use crate::error::{io_text, SandboxError};
use crate::launcher::Launcher;
use crate::policy::SandboxPolicy;
use crate::probe::probe_with_cgroup;
use crate::protocol::{Message, Mode};

/// After the timeout, how long the launcher gets to take the tree down before it is killed.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the cgroup to empty after the launcher ended.
const EMPTY_WAIT: Duration = Duration::from_secs(3);
const READ_CHUNK: usize = 16 << 10;
const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;
const SIGXFSZ: i32 = 25;

/// A limit the command ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// CPU seconds (`SIGXCPU`).
    Cpu,
    /// Memory of the tree (an OOM kill in the cgroup).
    Memory,
    /// Process count (a fork refused by the cgroup).
    Processes,
    /// File size (`SIGXFSZ`).
    FileSize,
}

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxedOutcome {
    /// Exit code, when the command exited.
    pub exit_code: Option<i32>,
    /// Signal number, when the command was killed by one.
    pub signal: Option<i32>,
    /// Captured standard output, up to the cap.
    pub stdout: Vec<u8>,
    /// Captured standard error, up to the cap.
    pub stderr: Vec<u8>,
    /// Standard output went past the cap.
    pub stdout_truncated: bool,
    /// Standard error went past the cap.
    pub stderr_truncated: bool,
    /// The timeout killed the tree.
    pub timed_out: bool,
    /// The limit whose enforcement killed the command, where that can be told.
    pub killed_by: Option<Limit>,
    /// Every limit any process of the tree ran into.
    pub limits_hit: Vec<Limit>,
    /// From the launcher's start to the tree's end.
    pub duration: Duration,
    /// The enforcement applied (text form), for the provenance record.
    pub enforcement: String,
}

/// The sandbox as the executor holds it: how to start the launcher, what the kernel enforces
/// (probed once), and the level required.
#[derive(Debug, Clone)]
pub struct Sandbox {
    launcher: Launcher,
    enforcement: Enforcement,
    required: RequiredLevel,
    cgroup: Option<CgroupSupport>,
}

impl Sandbox {
    /// Probes the kernel through `launcher` (tens of milliseconds). Never fails: check
    /// [`Sandbox::check`] and report [`Sandbox::enforcement`] in health and identity.
    pub fn new(launcher: Launcher, required: RequiredLevel) -> Sandbox {
        let (enforcement, cgroup) = probe_with_cgroup(&launcher);
        Sandbox {
            launcher,
            enforcement,
            required,
            cgroup,
        }
    }

    /// The same sandbox with `part` treated as unavailable (tests, and operators who want a
    /// layer off: it is then neither applied nor reported).
    pub fn without(mut self, part: Part) -> Sandbox {
        self.enforcement = self.enforcement.without(part);
        if !self.enforcement.cgroup_memory && !self.enforcement.cgroup_pids {
            self.cgroup = None;
        }
        self
    }

    /// What the kernel enforces.
    pub fn enforcement(&self) -> &Enforcement {
        &self.enforcement
    }

    /// The required level.
    pub fn required(&self) -> &RequiredLevel {
        &self.required
    }

    /// Whether commands can run at the required level (the refusal names what is missing).
    pub fn check(&self) -> Result<(), SandboxError> {
        check(&self.enforcement, &self.required)
    }

    /// The text for health, identity and provenance: `<enforcement> level=<required>`.
    pub fn report(&self) -> String {
        format!("{} level={}", self.enforcement, self.required.name())
    }

    /// How the launcher is started.
    pub(crate) fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    /// A cgroup for one command's tree, when the kernel offers the controllers.
    pub(crate) fn cgroup_leaf(
        &self,
        policy: &SandboxPolicy,
    ) -> Result<Option<CgroupLeaf>, SandboxError> {
        if !(self.enforcement.cgroup_memory || self.enforcement.cgroup_pids) {
            return Ok(None);
        }
        let support = self.cgroup.as_ref().ok_or_else(|| {
            SandboxError::Cgroup("no cgroup hierarchy was found at start".to_string())
        })?;
        Ok(Some(CgroupLeaf::create(support, &policy.limits)?))
    }

    /// Runs `argv` (no shell) confined by `policy`, killing the whole tree at `timeout`.
    /// Dropping the future kills the tree too. Refuses (without starting anything) when the
    /// required level is not met or the policy is invalid.
    pub async fn run(
        &self,
        policy: &SandboxPolicy,
        argv: &[String],
        timeout: Duration,
        max_output_bytes: u64,
    ) -> Result<SandboxedOutcome, SandboxError> {
        let start = Instant::now();
        // Checked and started by `start.rs` (its type is not named here, so that the two files
        // do not import each other).
        let launched = self.launch(Mode::Run, policy, argv)?;
        let (mut child, leaf, read_half, mut write_half) = (
            launched.child,
            launched.leaf,
            launched.control_read,
            launched.control_write,
        );
        // A launcher that died early shows in its messages and status; keep going. The write
        // counts against the timeout like everything else.
        let _ = tokio::time::timeout(timeout, write_half.write_all(&launched.request_line)).await;
        let mut write_half = Some(write_half);
        let mut messages = BufReader::new(read_half).lines();

        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let mut out = Capture::new(max_output_bytes);
        let mut err = Capture::new(max_output_bytes);
        let mut out_buf = vec![0u8; READ_CHUNK];
        let mut err_buf = vec![0u8; READ_CHUNK];
        let mut report = Report::default();
        let mut control_open = true;
        let mut launcher_status: Option<ExitStatus> = None;
        let mut deadline = start + timeout;
        let mut timed_out = false;
        let mut killed_launcher = false;

        loop {
            if launcher_status.is_some() && !control_open && stdout.is_none() && stderr.is_none() {
                break;
            }
            tokio::select! {
                m = messages.next_line(), if control_open => match m {
                    Ok(Some(l)) => report.take(&l),
                    Ok(None) | Err(_) => control_open = false,
                },
                r = read_opt(&mut stdout, &mut out_buf), if stdout.is_some() => {
                    on_read(r, &out_buf, &mut stdout, &mut out);
                }
                r = read_opt(&mut stderr, &mut err_buf), if stderr.is_some() => {
                    on_read(r, &err_buf, &mut stderr, &mut err);
                }
                s = child.wait(), if launcher_status.is_none() => match s {
                    Ok(s) => launcher_status = Some(s),
                    Err(e) => return Err(SandboxError::Io(format!("waiting for the launcher: {}", io_text(&e)))),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    if !timed_out && report.final_status().is_none() {
                        // The launcher kills the namespace's init when its control socket closes.
                        timed_out = true;
                        write_half = None;
                    } else if !killed_launcher {
                        let _ = child.start_kill();
                        killed_launcher = true;
                    } else {
                        break;
                    }
                    deadline = Instant::now() + KILL_GRACE;
                }
            }
        }
        drop(write_half);
        let events = match &leaf {
            Some(leaf) => {
                leaf.wait_empty(EMPTY_WAIT).await;
                leaf.events()
            }
            None => LimitEvents::default(),
        };
        if let Some(leaf) = leaf {
            leaf.remove_now();
        }
        let duration = start.elapsed();
        if let Some(reason) = report.setup_failed {
            return Err(SandboxError::Setup(reason));
        }
        if let Some(program) = report.not_found {
            return Err(SandboxError::ProgramNotFound(program));
        }
        let (exit_code, signal) = match report.final_status() {
            Some(Message::Exited(c)) => (Some(c), None),
            Some(Message::Signaled(s)) => (None, Some(s)),
            // The OOM killer may pick the namespace's init: the tree died of its memory.
            _ if timed_out || events.oom_kills > 0 => (None, Some(SIGKILL)),
            _ => {
                return Err(SandboxError::Setup(format!(
                    "the sandbox ended before the command did (init {}, launcher {})",
                    report
                        .init_ended
                        .map_or("unknown".to_string(), |c| c.to_string()),
                    launcher_status.map_or("unknown".to_string(), |s| s.to_string())
                )))
            }
        };
        let mut limits_hit = Vec::new();
        if events.oom_kills > 0 {
            limits_hit.push(Limit::Memory);
        }
        if events.pids_max > 0 {
            limits_hit.push(Limit::Processes);
        }
        let killed_by = match signal {
            Some(SIGXCPU) => Some(Limit::Cpu),
            Some(SIGXFSZ) => Some(Limit::FileSize),
            Some(SIGKILL) if events.oom_kills > 0 => Some(Limit::Memory),
            _ => None,
        };
        if let Some(l) = killed_by {
            if !limits_hit.contains(&l) {
                limits_hit.push(l);
            }
        }
        Ok(SandboxedOutcome {
            exit_code,
            signal,
            stdout: out.data,
            stderr: err.data,
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
            timed_out,
            killed_by,
            limits_hit,
            duration,
            enforcement: self.report(),
        })
    }
}

/// The launcher's messages, as far as they went.
#[derive(Debug, Default)]
struct Report {
    started: bool,
    setup_failed: Option<String>,
    not_found: Option<String>,
    status: Option<Message>,
    init_ended: Option<i32>,
}

impl Report {
    fn take(&mut self, line: &str) {
        let Ok(message) = serde_json::from_str::<Message>(line) else {
            self.setup_failed
                .get_or_insert_with(|| "unreadable message from the launcher".to_string());
            return;
        };
        match message {
            Message::Started => self.started = true,
            Message::SetupFailed(r) => {
                self.setup_failed.get_or_insert(r);
            }
            Message::NotFound(p) => self.not_found = Some(p),
            m @ (Message::Exited(_) | Message::Signaled(_)) => self.status = Some(m),
            Message::InitEnded(c) => self.init_ended = Some(c),
            Message::Probe(_) => {}
        }
    }

    fn final_status(&self) -> Option<Message> {
        self.status.clone()
    }
}

/// Output kept up to a cap; the rest is read and discarded so the child never blocks.
struct Capture {
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn new(cap: u64) -> Capture {
        Capture {
            data: Vec::new(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            truncated: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let room = self.cap.saturating_sub(self.data.len());
        if chunk.len() > room {
            self.truncated = true;
            self.data.extend_from_slice(&chunk[..room]);
        } else {
            self.data.extend_from_slice(chunk);
        }
    }
}

async fn read_opt<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buf).await,
        None => Ok(0),
    }
}

fn on_read<R>(
    result: std::io::Result<usize>,
    buf: &[u8],
    pipe: &mut Option<R>,
    into: &mut Capture,
) {
    match result {
        Ok(0) | Err(_) => *pipe = None,
        Ok(n) => into.push(&buf[..n]),
    }
}
