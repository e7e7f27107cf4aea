//! One `[[mcp_upstream]]` of the configuration as the executor uses it: a name and how to
//! reach the server (a command run in the sandbox), and where its standard error goes.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use trust_sandbox::{ResourceLimits, SandboxPolicy, SENSITIVE_GLOBS};

/// A configured upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpUpstreamSpec {
    /// The `SERVER` of `mcp.call` resources (`SERVER/TOOL`).
    pub name: String,
    pub transport: UpstreamTransport,
}

/// How the executor reaches an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// A child process speaking MCP over stdio, always in the sandbox.
    Command(CommandUpstream),
}

/// A child-process upstream and the sandbox it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandUpstream {
    /// The program and its arguments (no shell).
    pub argv: Vec<String>,
    /// The folder it sees at the same path (absolute); the rest of the host is hidden
    /// except the system paths and `read_paths`.
    pub workspace: PathBuf,
    /// Folders under `workspace` it may write (relative; `""` the whole folder); none: read-only.
    pub writable: Vec<String>,
    /// Further absolute paths it may read and execute (its code, a runtime outside `/usr`).
    pub read_paths: Vec<PathBuf>,
    /// Its whole environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Where its standard error is appended (its own log); none: the executor's log at debug.
    pub stderr_log: Option<PathBuf>,
}

impl CommandUpstream {
    /// The sandbox policy it runs under: no network, the sensitive class hidden.
    pub fn policy(&self) -> SandboxPolicy {
        let mut policy = SandboxPolicy::new(&self.workspace);
        policy.writable = self.writable.clone();
        policy.hidden = SENSITIVE_GLOBS.iter().map(|s| s.to_string()).collect();
        policy.extra_ro_paths = self.read_paths.clone();
        policy.env = self.env.clone();
        policy.limits = ResourceLimits {
            // A server lives as long as the executor: a day of CPU, not a command's minutes.
            cpu_secs: 86_400,
            ..ResourceLimits::default()
        };
        policy
    }
}

/// Copies the upstream's standard error, line by line, to its log file or the executor's log.
pub(super) fn drain_stderr(
    server: &str,
    stderr: tokio::process::ChildStderr,
    log: Option<PathBuf>,
) {
    let server = server.to_string();
    tokio::spawn(async move {
        let mut file = match &log {
            Some(path) => tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|e| {
                    tracing::warn!(upstream = %server, error = %e, "cannot open the upstream's stderr log")
                })
                .ok(),
            None => None,
        };
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match file.as_mut() {
                Some(f) => {
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
                None => tracing::debug!(upstream = %server, "{line}"),
            }
        }
    });
}

/// `[[mcp_upstream]]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcpUpstream {
    name: String,
    /// The server's program and arguments (stdio, run in the sandbox).
    command: Option<Vec<String>>,
    /// A streamable HTTP server (not supported yet: refused with a clear error).
    url: Option<String>,
    /// The folder the child sees (relative to the configuration file); required with `command`.
    workspace: Option<PathBuf>,
    #[serde(default)]
    writable: Vec<String>,
    #[serde(default)]
    read_paths: Vec<PathBuf>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    /// Network for the child: only `false` is supported (a server that needs the network is
    /// run on its own and fronted by `url`).
    #[serde(default)]
    network: bool,
    stderr_log: Option<PathBuf>,
}

/// Every `[[mcp_upstream]]`, each bad field reported in `errors`.
pub fn parse_upstreams(
    raw: Vec<RawMcpUpstream>,
    base: &std::path::Path,
    errors: &mut Vec<String>,
) -> Vec<McpUpstreamSpec> {
    let mut specs: Vec<McpUpstreamSpec> = Vec::new();
    for r in raw {
        let at = format!("[[mcp_upstream]] `{}`", r.name);
        if !trust_sdk::mcp_resource::valid_server_name(&r.name) {
            errors.push(format!(
                "{at}: a name is letters, digits, `_` and `-` (it is the SERVER of `SERVER/TOOL`)"
            ));
            continue;
        }
        if specs.iter().any(|s| s.name == r.name) {
            errors.push(format!("{at}: named twice"));
            continue;
        }
        if r.network {
            errors.push(format!(
                "{at}: a child server gets no network here; run it yourself and give its `url`"
            ));
            continue;
        }
        let transport = match (r.command, r.url) {
            (Some(argv), None) => {
                if argv.first().is_none_or(String::is_empty) {
                    errors.push(format!("{at}: `command` needs a program"));
                    continue;
                }
                let Some(workspace) = r.workspace else {
                    errors.push(format!(
                        "{at}: `workspace` is required with `command` (the folder it may see)"
                    ));
                    continue;
                };
                UpstreamTransport::Command(CommandUpstream {
                    argv,
                    workspace: base.join(workspace),
                    writable: r.writable,
                    read_paths: r.read_paths.into_iter().map(|p| base.join(p)).collect(),
                    env: r.env.into_iter().collect(),
                    stderr_log: r.stderr_log.map(|p| base.join(p)),
                })
            }
            (None, Some(url)) => {
                errors.push(format!(
                    "{at}: `url` upstreams (streamable HTTP) are not supported by this executor yet: `{url}`"
                ));
                continue;
            }
            _ => {
                errors.push(format!("{at}: give exactly one of `command` and `url`"));
                continue;
            }
        };
        specs.push(McpUpstreamSpec {
            name: r.name,
            transport,
        });
    }
    specs
}
