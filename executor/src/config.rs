//! Executor configuration: one typed struct, parsed in one function that reports every bad field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

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
    /// `full`, or a named weaker level such as `no-cgroup` (see `docs/sandbox.md`).
    #[serde(default = "default_sandbox_level")]
    sandbox_level: String,
    /// Where the checkpoint signing key lives; `<data_dir>/executor.key` if unset. Deployments
    /// put it outside the data directory, so a copy of the log is not also a copy of its key.
    checkpoint_key: Option<PathBuf>,
    // Pinned trust in the authority (see `trust_alarm.rs`).
    /// Hex root public keys of the authority, pinned.
    #[serde(default)]
    authority_root_keys: Vec<String>,
    /// A signed key set file (`<authority data_dir>/keys/key-set.json`); its keys are pinned.
    authority_key_set_file: Option<PathBuf>,
    /// The id of a trust alarm an operator has investigated and clears at this start.
    acknowledge_trust_alarm: Option<String>,
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
    pub operations: OperationLimits,
    pub auditors: Vec<(String, VerifyingKey)>,
    /// The sandbox level every child process needs (`full` unless a weaker one is named).
    pub sandbox_level: trust_sandbox::RequiredLevel,
    /// The checkpoint signing key's file (created 0600 if missing).
    pub checkpoint_key: PathBuf,
    pub pinning: AuthorityPinning,
}

/// What the executor trusts of the authority before it has talked to it.
#[derive(Debug, Clone)]
pub struct AuthorityPinning {
    /// Root keys that may vouch for the authority's key set.
    pub root_keys: Vec<VerifyingKey>,
    /// A trust alarm the operator acknowledges at this start.
    pub acknowledge_alarm: Option<String>,
}

/// The keys of a pinned key-set file; the file must be signed by one of its own keys.
fn key_set_file_keys(path: &Path) -> Result<Vec<VerifyingKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("authority_key_set_file `{}`: {e}", path.display()))?;
    let signed: trust_sdk::key_set::SignedKeySet = serde_json::from_str(&text)
        .map_err(|e| format!("authority_key_set_file `{}`: {e}", path.display()))?;
    let keys: Vec<VerifyingKey> = signed
        .unverified()
        .and_then(|set| set.root_keys())
        .map_err(|e| format!("authority_key_set_file `{}`: {e}", path.display()))?
        .into_iter()
        .map(|(_, key, _)| key)
        .collect();
    signed
        .verify(&keys, None)
        .map_err(|e| format!("authority_key_set_file `{}`: {e}", path.display()))?;
    Ok(keys)
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
        let mut pinned = Vec::new();
        for hex_key in &raw.authority_root_keys {
            match trust_sdk::keys::verifying_key_from_hex(hex_key) {
                Ok(k) => pinned.push(k),
                Err(e) => errors.push(format!("authority_root_keys `{hex_key}`: {e}")),
            }
        }
        if let Some(file) = &raw.authority_key_set_file {
            match key_set_file_keys(&base.join(file)) {
                Ok(keys) => pinned.extend(keys),
                Err(e) => errors.push(e),
            }
        }
        if raw.authority_root_keys.is_empty() && raw.authority_key_set_file.is_none() {
            errors.push("authority_root_keys or authority_key_set_file is required: the executor learns no root key from the network unauthenticated".into());
        }
        let pinning = AuthorityPinning {
            root_keys: pinned,
            acknowledge_alarm: raw.acknowledge_trust_alarm,
        };
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
        match (listen, sandbox_level) {
            (Some(listen), Some(sandbox_level)) if errors.is_empty() => Ok(Self {
                listen,
                checkpoint_key: match raw.checkpoint_key {
                    Some(path) => base.join(path),
                    None => base.join(&raw.data_dir).join("executor.key"),
                },
                data_dir: base.join(raw.data_dir),
                executor_id: raw.executor_id,
                authority: raw.authority,
                revocation_poll: Duration::from_millis(raw.revocation_poll_ms.max(10)),
                checkpoint_every: raw.checkpoint_every,
                workspaces,
                admission,
                operations,
                auditors,
                sandbox_level,
                pinning,
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
            "authority_root_keys or authority_key_set_file is required",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
