//! `proc.run`: a named command, never through a shell, inside the kernel sandbox
//! (`trust-sandbox`): the workspace with only the grant's write prefixes writable and its
//! denied files masked, no network, capped resources, a cleared environment, capped output,
//! and a timeout (or a dropped request) that kills the whole process tree. Without a sandbox
//! that meets the required level the command is refused, never run unconfined.

use std::time::Duration;

use trust_sandbox::{Limit, NetworkPolicy, SandboxError, SandboxPolicy};

use super::{NamedCommand, OperationError, OperationLimits, RunOutcome};
use crate::workspace::{display_path, normalize_relative, Workspace};

/// Longest accepted command name, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 256;
/// Ceiling on the total size of the argument vector, in bytes.
pub(crate) const MAX_ARGV_BYTES: usize = 256 << 10;

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

fn limit_name(limit: Limit) -> &'static str {
    match limit {
        Limit::Cpu => "cpu",
        Limit::Memory => "memory",
        Limit::Processes => "processes",
        Limit::FileSize => "file-size",
    }
}

fn sandbox_error(e: SandboxError, program: &str) -> OperationError {
    match e {
        SandboxError::ProgramNotFound(_) => {
            OperationError::NotFound(format!("program `{}`", display_path(program)))
        }
        SandboxError::InvalidPolicy(m) => OperationError::InvalidInput(m),
        SandboxError::Io(m) => OperationError::Io(m),
        other => OperationError::Sandbox(other.to_string()),
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
    // The kernel checks that the directory is beneath the root with no symbolic link on the
    // way (the sandbox then binds the workspace at its own path and enters `rel`).
    drop(ws.open_dir(&rel)?);
    let sandbox = limits.sandbox.as_ref().ok_or_else(|| {
        OperationError::Sandbox("no sandbox is configured; refusing to run unconfined".into())
    })?;
    let mut policy = SandboxPolicy::new(ws.root_path());
    policy.cwd = rel;
    policy.writable = limits.writable.to_vec();
    policy.hidden = limits.hidden_globs.to_vec();
    policy.extra_ro_paths = limits.run_read_only_paths.clone();
    policy.limits = trust_sandbox::ResourceLimits {
        cpu_secs: policy
            .limits
            .cpu_secs
            .min(limits.run_limits.cpu_secs)
            .min(timeout.as_secs() + 1),
        ..limits.run_limits
    };
    // A grant naming hosts: network only through a proxy of this run that admits those hosts.
    let proxy = crate::operations::egress::start_proxy(&limits.egress_hosts)?;
    policy.network = proxy
        .as_ref()
        .map_or(NetworkPolicy::None, |p| NetworkPolicy::Proxy {
            socket: p.socket().to_path_buf(),
        });
    policy.env = limits
        .env_allowlist
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .collect();
    crate::secrets::exec_use::inject_env(&mut policy.env, &limits.secret_env);
    let program = &command.argv[0];
    let outcome = sandbox
        .run(&policy, &command.argv, timeout, limits.max_output_bytes)
        .await;
    let egress = crate::operations::egress::finish_proxy(proxy).await;
    let outcome = outcome.map_err(|e| sandbox_error(e, program))?;
    Ok(RunOutcome {
        exit_code: outcome.exit_code.unwrap_or(-1),
        signal: outcome.signal.unwrap_or(0),
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        stdout_truncated: outcome.stdout_truncated,
        stderr_truncated: outcome.stderr_truncated,
        timed_out: outcome.timed_out,
        duration: outcome.duration,
        killed_by: outcome.killed_by.map(|l| limit_name(l).to_string()),
        limits_hit: outcome
            .limits_hit
            .into_iter()
            .map(|l| limit_name(l).to_string())
            .collect(),
        sandbox: outcome.enforcement,
        egress,
    })
}
