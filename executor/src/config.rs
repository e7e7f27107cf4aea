//! Executor configuration: one typed struct, parsed in one function that reports every bad field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use crate::admission_bounds::AdmissionBounds;
use crate::error::StartError;
use crate::operations::OperationLimits;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    data_dir: PathBuf,
    #[serde(default = "default_id")]
    executor_id: String,
    authority: String,
    #[serde(default = "default_poll")]
    revocation_poll_ms: u64,
    #[serde(default = "default_staleness")]
    revocation_max_staleness_secs: u64,
    #[serde(default = "default_proof_window")]
    proof_window_secs: u64,
    #[serde(default = "default_checkpoint")]
    checkpoint_every: u64,
    #[serde(default = "default_depth")]
    max_delegation_depth: usize,
    #[serde(default)]
    workspaces: Vec<RawWorkspace>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    auditors: Vec<RawAuditor>,
    #[serde(default)]
    admission: RawAdmission,
    /// `full`, or a named weaker level such as `no-cgroup` (see `docs/sandbox.md`).
    #[serde(default = "default_sandbox_level")]
    sandbox_level: String,
}

fn default_sandbox_level() -> String {
    "full".into()
}

fn default_id() -> String {
    "executor".into()
}
fn default_poll() -> u64 {
    250
}
fn default_staleness() -> u64 {
    30
}
fn default_proof_window() -> u64 {
    30
}
fn default_checkpoint() -> u64 {
    64
}
fn default_depth() -> usize {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    name: String,
    root: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuditor {
    id: String,
    public_key: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_token_bytes: Option<usize>,
    max_blocks: Option<usize>,
    max_request_bytes: Option<usize>,
    max_read_bytes: Option<u64>,
    max_write_bytes: Option<u64>,
    max_list_entries: Option<u32>,
    max_search_matches: Option<u32>,
    max_run_timeout_ms: Option<u64>,
    max_output_bytes: Option<u64>,
    env_allowlist: Option<Vec<String>>,
    max_run_memory_bytes: Option<u64>,
    max_run_processes: Option<u64>,
    max_run_file_bytes: Option<u64>,
    max_run_open_files: Option<u64>,
    max_run_cpu_secs: Option<u64>,
    run_read_only_paths: Option<Vec<PathBuf>>,
}

/// The `[admission]` section: every field optional, defaults in [`AdmissionBounds::default`].
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmission {
    max_block_facts: Option<u64>,
    max_block_rules: Option<u64>,
    max_block_checks: Option<u64>,
    max_token_facts: Option<u64>,
    max_token_rules: Option<u64>,
    max_token_checks: Option<u64>,
    max_body_predicates: Option<u64>,
    max_expression_ops: Option<u64>,
    max_expression_depth: Option<u64>,
    max_token_expression_ops: Option<u64>,
    max_rule_work: Option<u64>,
    max_token_work: Option<u64>,
    datalog_budget_ms: Option<u64>,
    datalog_max_facts: Option<u64>,
    datalog_max_iterations: Option<u64>,
    datalog_workers: Option<usize>,
    max_concurrent_admissions: Option<usize>,
    admission_wait_ms: Option<u64>,
    max_requests_per_connection: Option<usize>,
}

impl RawAdmission {
    fn bounds(self, errors: &mut Vec<String>) -> AdmissionBounds {
        let mut b = AdmissionBounds::default();
        let caps = &mut b.datalog;
        for (value, slot) in [
            (self.max_block_facts, &mut caps.max_block_facts),
            (self.max_block_rules, &mut caps.max_block_rules),
            (self.max_block_checks, &mut caps.max_block_checks),
            (self.max_token_facts, &mut caps.max_token_facts),
            (self.max_token_rules, &mut caps.max_token_rules),
            (self.max_token_checks, &mut caps.max_token_checks),
            (self.max_body_predicates, &mut caps.max_body_predicates),
            (self.max_expression_ops, &mut caps.max_expression_ops),
            (self.max_expression_depth, &mut caps.max_expression_depth),
            (
                self.max_token_expression_ops,
                &mut caps.max_token_expression_ops,
            ),
            (self.max_rule_work, &mut caps.max_rule_work),
            (self.max_token_work, &mut caps.max_token_work),
            (self.datalog_max_facts, &mut b.datalog_max_facts),
            (self.datalog_max_iterations, &mut b.datalog_max_iterations),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
        for (name, value, slot) in [
            (
                "datalog_workers",
                self.datalog_workers,
                &mut b.datalog_workers,
            ),
            (
                "max_concurrent_admissions",
                self.max_concurrent_admissions,
                &mut b.max_concurrent_admissions,
            ),
            (
                "max_requests_per_connection",
                self.max_requests_per_connection,
                &mut b.max_requests_per_connection,
            ),
        ] {
            match value {
                Some(0) => errors.push(format!("admission.{name} must be at least 1")),
                Some(v) => *slot = v,
                None => {}
            }
        }
        for (name, value, slot) in [
            (
                "datalog_budget_ms",
                self.datalog_budget_ms,
                &mut b.datalog_budget,
            ),
            (
                "admission_wait_ms",
                self.admission_wait_ms,
                &mut b.admission_wait,
            ),
        ] {
            match value {
                Some(0) => errors.push(format!("admission.{name} must be at least 1")),
                Some(v) => *slot = Duration::from_millis(v),
                None => {}
            }
        }
        b
    }
}

/// Admission limits checked before a token is parsed.
#[derive(Debug, Clone)]
pub struct AdmissionLimits {
    pub max_token_bytes: usize,
    pub max_blocks: usize,
    pub max_request_bytes: usize,
    pub proof_window: Duration,
    pub revocation_max_staleness: Duration,
    /// How many times a grant may have been delegated (0 = no derived grants).
    pub max_delegation_depth: usize,
}

/// A guarded workspace: a name grants refer to, and the folder it maps to.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    pub name: String,
    pub root: PathBuf,
}

/// Everything the executor needs to start.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub executor_id: String,
    pub authority: String,
    pub revocation_poll: Duration,
    pub checkpoint_every: u64,
    pub workspaces: Vec<WorkspaceConfig>,
    pub admission: AdmissionLimits,
    /// The `[admission]` section: Datalog caps and budget, concurrency.
    pub bounds: AdmissionBounds,
    pub operations: OperationLimits,
    pub auditors: Vec<(String, VerifyingKey)>,
    /// The sandbox level every child process needs (`full` unless a weaker one is named).
    pub sandbox_level: trust_sandbox::RequiredLevel,
}

impl ExecutorConfig {
    /// Reads and validates `path`; relative paths inside are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::Config(format!("`{}`: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
            .map_err(|e| StartError::Config(format!("`{}`: {e}", path.display())))
    }

    /// Parses config text; collects every problem before failing.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        let listen = raw
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| errors.push(format!("listen `{}`: {e}", raw.listen)))
            .ok();
        if !(raw.authority.starts_with("http://") || raw.authority.starts_with("https://")) {
            errors.push(format!(
                "authority `{}` must be an http:// or https:// URL",
                raw.authority
            ));
        }
        if raw.workspaces.is_empty() {
            errors.push("at least one [[workspaces]] entry is required".into());
        }
        let mut workspaces = Vec::new();
        for w in raw.workspaces {
            let root = base.join(&w.root);
            if !root.is_dir() {
                errors.push(format!(
                    "workspace `{}`: `{}` is not a directory",
                    w.name,
                    root.display()
                ));
            }
            workspaces.push(WorkspaceConfig { name: w.name, root });
        }
        let mut auditors = Vec::new();
        for a in raw.auditors {
            match trust_sdk::keys::verifying_key_from_hex(&a.public_key) {
                Ok(k) => auditors.push((a.id, k)),
                Err(e) => errors.push(format!("auditor `{}`: {e}", a.id)),
            }
        }
        if raw.proof_window_secs == 0 || raw.proof_window_secs > 300 {
            errors.push("proof_window_secs must be between 1 and 300".into());
        }
        if raw.checkpoint_every == 0 {
            errors.push("checkpoint_every must be at least 1".into());
        }
        let l = raw.limits;
        let mut operations = OperationLimits::default();
        if let Some(v) = l.max_read_bytes {
            operations.max_read_bytes = v;
        }
        if let Some(v) = l.max_write_bytes {
            operations.max_write_bytes = v;
        }
        if let Some(v) = l.max_list_entries {
            operations.max_list_entries = v;
        }
        if let Some(v) = l.max_search_matches {
            operations.max_search_matches = v;
        }
        if let Some(v) = l.max_run_timeout_ms {
            operations.max_run_timeout = Duration::from_millis(v);
        }
        if let Some(v) = l.max_output_bytes {
            operations.max_output_bytes = v;
        }
        if let Some(v) = l.env_allowlist {
            operations.env_allowlist = v;
        }
        let run = &mut operations.run_limits;
        for (value, slot) in [
            (l.max_run_memory_bytes, &mut run.memory_bytes),
            (l.max_run_processes, &mut run.max_processes),
            (l.max_run_file_bytes, &mut run.max_file_bytes),
            (l.max_run_open_files, &mut run.max_open_files),
            (l.max_run_cpu_secs, &mut run.cpu_secs),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
        if let Some(paths) = l.run_read_only_paths {
            operations.run_read_only_paths = paths;
        }
        let sandbox_level = match trust_sandbox::RequiredLevel::parse(&raw.sandbox_level) {
            Ok(level) => Some(level),
            Err(e) => {
                errors.push(format!("sandbox_level: {e}"));
                None
            }
        };
        let admission = AdmissionLimits {
            max_token_bytes: l.max_token_bytes.unwrap_or(16 * 1024),
            max_blocks: l.max_blocks.unwrap_or(16),
            max_request_bytes: l.max_request_bytes.unwrap_or(4 * 1024 * 1024),
            proof_window: Duration::from_secs(raw.proof_window_secs),
            revocation_max_staleness: Duration::from_secs(raw.revocation_max_staleness_secs),
            max_delegation_depth: raw.max_delegation_depth,
        };
        let bounds = raw.admission.bounds(&mut errors);
        match (listen, sandbox_level) {
            (Some(listen), Some(sandbox_level)) if errors.is_empty() => Ok(Self {
                listen,
                data_dir: base.join(raw.data_dir),
                executor_id: raw.executor_id,
                authority: raw.authority,
                revocation_poll: Duration::from_millis(raw.revocation_poll_ms.max(10)),
                checkpoint_every: raw.checkpoint_every,
                workspaces,
                admission,
                bounds,
                operations,
                auditors,
                sandbox_level,
            }),
            _ => Err(errors.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field() {
        let text = r#"
            listen = "nope"
            data_dir = "d"
            authority = "ftp://x"
            proof_window_secs = 0
            [[workspaces]]
            name = "w"
            root = "/definitely/not/here"
        "#;
        let err = ExecutorConfig::parse(text, Path::new("/")).unwrap_err();
        for needle in [
            "listen",
            "authority",
            "proof_window_secs",
            "not a directory",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
