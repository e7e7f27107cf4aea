//! Executor configuration: one typed struct, parsed in one function that reports every bad field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use trust_sdk::listener::{ListenerSecurity, ServerTlsFiles};

use crate::admission_bounds::AdmissionBounds;
use crate::error::StartError;
use crate::operations::OperationLimits;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
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
    /// The transport: a `[tls]` section, or `insecure_plaintext = true` (loopback only).
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    insecure_plaintext: bool,
    // Secrets broker (`secrets.rs`).
    /// Operators who may put, list and delete secrets and export their fingerprints.
    #[serde(default)]
    secret_admin_keys: Vec<RawAuditor>,
    /// The file holding the key that seals secrets: base64 of 32 bytes, mode 0600, owned by
    /// the executor's user, outside `data_dir` (refused otherwise).
    secrets_key_file: Option<PathBuf>,
    /// Or the environment variable holding that key.
    secrets_key_env: Option<String>,
    // Observability (`metrics.rs`).
    /// Loopback address of the Prometheus endpoint (`GET /metrics`); none when unset.
    metrics_listen: Option<String>,
    // net.http (the `[http]` group).
    /// `[http]`: ceilings of `net.http` requests.
    #[serde(default)]
    http: RawHttp,
    // MCP gateway (`mcp_upstream.rs`): the MCP servers `mcp.call` forwards to.
    #[serde(default)]
    mcp_upstream: Vec<crate::mcp_upstream::RawMcpUpstream>,
    // Governed context retrieval (`context.rs`): the sources and their settings.
    /// `[[context_source]]`: document sources `context.retrieve` reads, opened at start.
    #[serde(default)]
    context_source: Vec<crate::context::config::RawContextSource>,
    /// `[context]`: size caps and the `customer_id` redaction pattern.
    #[serde(default)]
    context: crate::context::config::RawContextSettings,
    // Business tools (`tool.invoke`, `tool_admission.rs`).
    /// `[tools]`: where tool upstreams may be, and the ceilings of their calls.
    #[serde(default)]
    tools: RawTools,
}

/// `[tools]`: the hosts tool upstreams may be reached at and the ceilings of their calls.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTools {
    #[serde(default)]
    upstream_hosts: Vec<String>,
    max_response_bytes: Option<u64>,
    timeout_ms: Option<u64>,
}

/// `[http]`: the ceilings of `net.http`; every field optional (defaults in `HttpLimits`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    max_request_bytes: Option<u64>,
    max_response_bytes: Option<u64>,
    timeout_ms: Option<u64>,
    max_redirects: Option<u32>,
}

/// `[tls]`: the executor's server certificate and key, the CA the authority's certificate
/// chains to, and the client certificate the executor presents to the authority (its server
/// certificate and key when not named; that certificate then needs client usage too).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    authority_ca: PathBuf,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

fn default_listen() -> String {
    "127.0.0.1:7402".into()
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

/// How the executor reaches the authority: mutual TLS, or plaintext by explicit choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityLink {
    /// The authority's certificate must chain to `ca`; the executor presents `client_cert`.
    MutualTls {
        ca: PathBuf,
        client_cert: PathBuf,
        client_key: PathBuf,
    },
    InsecurePlaintext,
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
    /// TLS for agents and auditors, or plaintext by explicit choice on loopback.
    pub security: ListenerSecurity,
    /// The link to the authority (mutual TLS unless plaintext was chosen).
    pub authority_link: AuthorityLink,
    /// The checkpoint signing key's file (created 0600 if missing).
    pub checkpoint_key: PathBuf,
    pub pinning: AuthorityPinning,
    /// Secret admins and where the sealing key comes from.
    pub secrets: crate::secrets::SecretsConfig,
    /// Where Prometheus metrics are served (loopback only), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Business tools (`[tools]`): upstream hosts and ceilings of `tool.invoke`.
    pub tools: crate::tool_admission::ToolsConfig,
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
        Self::load_with(path, false)
    }

    /// [`Self::load`]; `insecure_plaintext` (`--insecure-plaintext`) replaces any `[tls]`
    /// section with plaintext on both links, which is still refused off loopback.
    pub fn load_with(path: &Path, insecure_plaintext: bool) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::Config(format!("`{}`: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_with(&text, base, insecure_plaintext)
            .map_err(|e| StartError::Config(format!("`{}`: {e}", path.display())))
    }

    /// Parses config text; collects every problem before failing.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        Self::parse_with(text, base, false)
    }

    /// [`Self::parse`], with plaintext forced by `--insecure-plaintext`.
    pub fn parse_with(text: &str, base: &Path, insecure_plaintext: bool) -> Result<Self, String> {
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if insecure_plaintext {
            raw.tls = None;
            raw.insecure_plaintext = true;
        }
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
        // MCP gateway upstreams.
        operations.mcp_upstreams = std::sync::Arc::new(crate::mcp_upstream::McpUpstreams::new(
            crate::mcp_upstream::parse_upstreams(
                std::mem::take(&mut raw.mcp_upstream),
                base,
                &mut errors,
            ),
        ));
        // net.http ceilings.
        let http = &mut operations.http;
        if let Some(v) = raw.http.max_request_bytes {
            http.max_request_bytes = v;
        }
        if let Some(v) = raw.http.max_response_bytes {
            http.max_response_bytes = v;
        }
        match raw.http.timeout_ms {
            Some(0) => errors.push("[http] timeout_ms must be at least 1".into()),
            Some(v) => http.timeout = Duration::from_millis(v),
            None => {}
        }
        if let Some(v) = raw.http.max_redirects {
            http.max_redirects = v;
        }
        // Business tools.
        let mut tools = crate::tool_admission::ToolsConfig {
            upstream_hosts: raw.tools.upstream_hosts.clone(),
            ..Default::default()
        };
        if let Some(v) = raw.tools.max_response_bytes {
            tools.max_response_bytes = v;
        }
        match raw.tools.timeout_ms {
            Some(0) => errors.push("[tools] timeout_ms must be at least 1".into()),
            Some(v) => tools.timeout = Duration::from_millis(v),
            None => {}
        }
        for host in &tools.upstream_hosts {
            if crate::net::DestinationPolicy::from_entries([host.as_str()]).is_empty() {
                errors.push(format!(
                    "[tools] upstream_hosts: `{host}` is not a host or host:port"
                ));
            }
        }
        // Governed context retrieval: every source opened now, or no start.
        let roots: Vec<PathBuf> = workspaces.iter().map(|w| w.root.clone()).collect();
        operations.context = std::sync::Arc::new(crate::context::config::load(
            raw.context_source,
            raw.context,
            base,
            &roots,
            &tools.upstream_hosts,
            &mut errors,
        ));
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
        let authority_link = match &raw.tls {
            Some(t) => AuthorityLink::MutualTls {
                ca: base.join(&t.authority_ca),
                client_cert: base.join(t.client_cert.as_ref().unwrap_or(&t.cert)),
                client_key: base.join(t.client_key.as_ref().unwrap_or(&t.key)),
            },
            None => AuthorityLink::InsecurePlaintext,
        };
        let tls = raw.tls.map(|t| ServerTlsFiles {
            cert: base.join(t.cert),
            key: base.join(t.key),
            client_ca: None,
        });
        let security = ListenerSecurity::choose(tls, raw.insecure_plaintext)
            .map_err(|e| errors.push(e))
            .ok();
        if let (Some(security), Some(listen)) = (&security, listen) {
            if let Err(e) = security.check(listen) {
                errors.push(e.to_string());
            }
        }
        match (&security, raw.authority.starts_with("http://")) {
            (Some(ListenerSecurity::Tls(_)), true) => errors.push(format!(
                "authority `{}`: with [tls] the authority is reached over TLS: use https://",
                raw.authority
            )),
            (Some(ListenerSecurity::InsecurePlaintext), false) => errors.push(format!(
                "authority `{}`: insecure_plaintext reaches the authority in plaintext: use http:// (on loopback)",
                raw.authority
            )),
            _ => {}
        }
        let bounds = raw.admission.bounds(&mut errors);
        let secrets = crate::secrets::SecretsConfig::parse(
            raw.secret_admin_keys
                .into_iter()
                .map(|a| (a.id, a.public_key))
                .collect(),
            raw.secrets_key_file.map(|f| base.join(f)),
            raw.secrets_key_env,
            &operations.env_allowlist,
            &mut errors,
        );
        let metrics_listen = raw.metrics_listen.as_deref().and_then(|a| {
            trust_sdk::telemetry::metrics_address(a)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
        });
        match (listen, sandbox_level, security) {
            (Some(listen), Some(sandbox_level), Some(security)) if errors.is_empty() => Ok(Self {
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
                bounds,
                operations,
                auditors,
                sandbox_level,
                pinning,
                security,
                authority_link,
                secrets,
                metrics_listen,
                tools,
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

    fn workspace_toml() -> String {
        format!(
            "[[workspaces]]\nname = \"w\"\nroot = \"{}\"\n",
            std::env::temp_dir().display()
        )
    }

    #[test]
    fn refuses_to_start_without_tls_or_the_plaintext_switch() {
        let text = format!(
            "data_dir = \"d\"\nauthority = \"https://a:7401\"\n{}",
            workspace_toml()
        );
        let err = ExecutorConfig::parse(&text, Path::new("/")).unwrap_err();
        assert!(err.contains("no [tls] section"), "{err}");
    }

    #[test]
    fn refuses_plaintext_off_loopback_and_scheme_mismatches() {
        let text = format!(
            "listen = \"0.0.0.0:7402\"\ndata_dir = \"d\"\nauthority = \"https://a:7401\"\ninsecure_plaintext = true\n{}",
            workspace_toml()
        );
        let err = ExecutorConfig::parse(&text, Path::new("/")).unwrap_err();
        assert!(err.contains("only on a loopback address"), "{err}");
        assert!(err.contains("use http://"), "{err}");
        let text = format!(
            "data_dir = \"d\"\nauthority = \"http://a:7401\"\n[tls]\ncert = \"e.pem\"\nkey = \"e.key\"\nauthority_ca = \"ca.pem\"\n{}",
            workspace_toml()
        );
        let err = ExecutorConfig::parse(&text, Path::new("/")).unwrap_err();
        assert!(err.contains("use https://"), "{err}");
    }

    #[test]
    fn tls_on_loopback_by_default_with_mutual_tls_to_the_authority() {
        let root = hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes());
        let text = format!(
            "data_dir = \"d\"\nauthority = \"https://a:7401\"\nauthority_root_keys = [\"{root}\"]\n{}[tls]\ncert = \"e.pem\"\nkey = \"e.key\"\nauthority_ca = \"ca.pem\"\n",
            workspace_toml()
        );
        let config = ExecutorConfig::parse(&text, Path::new("/etc/trust")).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7402".parse().unwrap());
        assert!(matches!(config.security, ListenerSecurity::Tls(_)));
        assert_eq!(
            config.authority_link,
            AuthorityLink::MutualTls {
                ca: "/etc/trust/ca.pem".into(),
                client_cert: "/etc/trust/e.pem".into(),
                client_key: "/etc/trust/e.key".into(),
            }
        );
    }

    #[test]
    fn the_http_group_sets_the_net_http_ceilings() {
        let root = hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes());
        let base = format!(
            "data_dir = \"d\"\nauthority = \"https://a:7401\"\nauthority_root_keys = [\"{root}\"]\n{}[tls]\ncert = \"e.pem\"\nkey = \"e.key\"\nauthority_ca = \"ca.pem\"\n",
            workspace_toml()
        );
        let text = format!(
            "{base}[http]\nmax_request_bytes = 10\nmax_response_bytes = 20\ntimeout_ms = 30\nmax_redirects = 1\n"
        );
        let http = ExecutorConfig::parse(&text, Path::new("/"))
            .unwrap()
            .operations
            .http;
        assert_eq!(http.max_request_bytes, 10);
        assert_eq!(http.max_response_bytes, 20);
        assert_eq!(http.timeout, Duration::from_millis(30));
        assert_eq!(http.max_redirects, 1);
        let err = ExecutorConfig::parse(&format!("{base}[http]\ntimeout_ms = 0\n"), Path::new("/"))
            .unwrap_err();
        assert!(err.contains("[http] timeout_ms"), "{err}");
        let err = ExecutorConfig::parse(&format!("{base}[http]\nproxy = \"x\"\n"), Path::new("/"))
            .unwrap_err();
        assert!(err.contains("proxy"), "{err}");
    }
}
