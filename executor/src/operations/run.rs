//! `proc.run`: a named command, never through a shell, in a workspace
//! directory, with a cleared environment, capped output and a wall-clock
//! timeout that kills the whole process group.

use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::{NamedCommand, OperationError, OperationLimits, RunOutcome};
use crate::workspace::{display_path, normalize_relative, Workspace};

/// Longest accepted command name, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 256;
/// Ceiling on the total size of the argument vector, in bytes.
pub(crate) const MAX_ARGV_BYTES: usize = 256 << 10;
/// After a timeout kill, how long to wait for the pipes to close and the
/// process to be reaped.
const KILL_GRACE: Duration = Duration::from_secs(2);
const READ_CHUNK: usize = 16 << 10;

/// Checks a command before it is authorized or run.
pub(crate) fn validate_command(command: &NamedCommand) -> Result<(), OperationError> {
    if command.name.is_empty() {
        return Err(OperationError::InvalidInput(
            "empty command name".to_string(),
        ));
    }
    if command.name.len() > MAX_NAME_BYTES || command.name.chars().any(char::is_control) {
        return Err(OperationError::InvalidInput(format!(
            "invalid command name `{}`",
            display_path(&command.name)
        )));
    }
    let Some(program) = command.argv.first() else {
        return Err(OperationError::InvalidInput("empty argv".to_string()));
    };
    if program.is_empty() {
        return Err(OperationError::InvalidInput(
            "empty program in argv".to_string(),
        ));
    }
    if command.argv.iter().any(|a| a.contains('\0')) {
        return Err(OperationError::InvalidInput(
            "argv contains a nul byte".to_string(),
        ));
    }
    let total: usize = command.argv.iter().map(|a| a.len() + 1).sum();
    if total > MAX_ARGV_BYTES {
        return Err(OperationError::TooLarge(format!(
            "argv is {total} bytes, more than the limit of {MAX_ARGV_BYTES}"
        )));
    }
    Ok(())
}

/// `timeout`, or the limit when zero was requested, never above the limit.
pub(crate) fn effective_timeout(timeout: Duration, limits: &OperationLimits) -> Duration {
    if timeout.is_zero() {
        limits.max_run_timeout
    } else {
        timeout.min(limits.max_run_timeout)
    }
}

/// Output kept up to a cap; the rest is read and discarded so the child never
/// blocks on a full pipe.
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

/// Reads from an optional pipe (`Ok(0)` once it is gone).
async fn read_opt<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buf).await,
        None => Ok(0),
    }
}

/// Handles one read result: keeps the data or closes the pipe.
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

fn kill_group(pid: Option<Pid>) {
    if let Some(pid) = pid {
        // ESRCH (the group is already gone) is fine.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

pub(crate) async fn run(
    ws: &Workspace,
    command: &NamedCommand,
    cwd: &str,
    timeout: Duration,
    limits: &OperationLimits,
) -> Result<RunOutcome, OperationError> {
    validate_command(command)?;
    let timeout = effective_timeout(timeout, limits);
    let rel = normalize_relative(cwd)?;
    // The kernel checks that the directory is beneath the root with no
    // symbolic link on the way; the child then changes into exactly that
    // directory through the descriptor (via /proc) so a swap after this
    // check cannot redirect it. Without /proc, the joined path is used.
    let dir = ws.open_dir(&rel)?;
    let proc_fd_dir = Path::new("/proc/self/fd");
    let cwd_path = if proc_fd_dir.is_dir() {
        proc_fd_dir.join(dir.as_raw_fd().to_string())
    } else if rel.is_empty() {
        ws.root_path().to_path_buf()
    } else {
        let mut p = PathBuf::from(ws.root_path());
        p.push(&rel);
        p
    };

    let program = &command.argv[0];
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&command.argv[1..]).env_clear();
    for name in &limits.env_allowlist {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.current_dir(&cwd_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);

    let start = Instant::now();
    let spawned = cmd.spawn();
    drop(dir);
    let mut child = spawned.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            OperationError::NotFound(format!("program `{}`", display_path(program)))
        }
        std::io::ErrorKind::PermissionDenied => OperationError::Io(format!(
            "permission denied executing `{}`",
            display_path(program)
        )),
        _ => OperationError::Io(format!(
            "cannot start `{}`: {}",
            display_path(program),
            e.to_string().to_lowercase()
        )),
    })?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);

    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out = Capture::new(limits.max_output_bytes);
    let mut err = Capture::new(limits.max_output_bytes);
    let mut out_buf = vec![0u8; READ_CHUNK];
    let mut err_buf = vec![0u8; READ_CHUNK];
    let mut status: Option<ExitStatus> = None;
    let mut deadline = start + timeout;
    let mut timed_out = false;

    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            r = read_opt(&mut stdout, &mut out_buf), if stdout.is_some() => {
                on_read(r, &out_buf, &mut stdout, &mut out);
            }
            r = read_opt(&mut stderr, &mut err_buf), if stderr.is_some() => {
                on_read(r, &err_buf, &mut stderr, &mut err);
            }
            r = child.wait(), if status.is_none() => {
                match r {
                    Ok(s) => status = Some(s),
                    Err(e) => {
                        kill_group(pid);
                        return Err(OperationError::Io(format!(
                            "waiting for `{}`: {}",
                            display_path(program),
                            e.to_string().to_lowercase()
                        )));
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if timed_out {
                    // Grace period over: something outside the group still
                    // holds a pipe, or the child cannot be reaped.
                    break;
                }
                timed_out = true;
                kill_group(pid);
                deadline = Instant::now() + KILL_GRACE;
            }
        }
    }
    if status.is_none() {
        let _ = child.start_kill();
        if let Ok(Ok(s)) = tokio::time::timeout(KILL_GRACE, child.wait()).await {
            status = Some(s);
        }
    }
    if !timed_out {
        // Clean up anything the command left running in its group.
        kill_group(pid);
    }
    let duration = start.elapsed();
    let (exit_code, signal) = match status {
        Some(s) => (s.code().unwrap_or(-1), s.signal().unwrap_or(0)),
        None => (-1, 0),
    };
    Ok(RunOutcome {
        exit_code,
        signal,
        stdout: out.data,
        stderr: err.data,
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        timed_out,
        duration,
    })
}
