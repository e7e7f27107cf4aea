//! The MCP servers the executor fronts (`[[mcp_upstream]]`) and the clients it calls them
//! with (the official Rust MCP SDK, `rmcp`): what `mcp.call` forwards to, after admission.
//!
//! A command upstream always runs in the kernel sandbox ([`trust_sandbox::Sandbox::serve`]):
//! it sees the system paths, the folder it is given (writable only where configured), the
//! extra read-only paths it needs (its code) and no network. Without a sandbox at the required
//! level it is not started, and the call fails naming why. A client is started at the first
//! call and started again at the next call after its server exited.

mod spec;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, JsonObject, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::ServiceExt;
use tokio::sync::Mutex;
use trust_sandbox::Sandbox;

pub use spec::{
    parse_upstreams, CommandUpstream, McpUpstreamSpec, RawMcpUpstream, UpstreamTransport,
};

/// How long a command upstream has to start inside the sandbox and answer the handshake.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call could not be forwarded, or what the upstream answered instead of a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpUpstreamError {
    #[error("no MCP upstream named `{0}` is configured at this executor")]
    Unknown(String),
    #[error("MCP upstream `{server}` is not started: {reason}")]
    NotStarted { server: String, reason: String },
    #[error("MCP upstream `{server}`: {reason}")]
    Failed { server: String, reason: String },
}

/// The result of one forwarded call, as the upstream sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpCallOutcome {
    /// The upstream's `CallToolResult` as JSON text, unchanged.
    pub result_json: String,
    /// The upstream flagged its result as a tool error.
    pub is_error: bool,
}

type Client = RunningService<RoleClient, ()>;

/// Every configured upstream and its client, when started.
#[derive(Debug, Default)]
pub struct McpUpstreams {
    specs: Vec<McpUpstreamSpec>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl McpUpstreams {
    /// The upstreams of the configuration; nothing is started yet.
    pub fn new(specs: Vec<McpUpstreamSpec>) -> McpUpstreams {
        McpUpstreams {
            specs,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The configured upstreams' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.iter().map(|s| s.name.as_str())
    }

    /// Forwards `tool` with `arguments` to `server`.
    pub async fn call(
        &self,
        sandbox: Option<&Sandbox>,
        server: &str,
        tool: &str,
        arguments_json: &str,
    ) -> Result<McpCallOutcome, McpUpstreamError> {
        let failed = |reason: String| McpUpstreamError::Failed {
            server: server.to_string(),
            reason,
        };
        let arguments = match arguments_json.trim() {
            "" => None,
            text => {
                Some(serde_json::from_str::<JsonObject>(text).map_err(|e| failed(e.to_string()))?)
            }
        };
        let client = self.client(sandbox, server).await?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = arguments;
        let result = tokio::time::timeout(CALL_TIMEOUT, client.peer().call_tool(params))
            .await
            .map_err(|_| failed(format!("no answer within {} s", CALL_TIMEOUT.as_secs())))?
            .map_err(|e| failed(e.to_string()))?;
        let result_json = serde_json::to_string(&result).map_err(|e| failed(e.to_string()))?;
        Ok(McpCallOutcome {
            result_json,
            is_error: result.is_error.unwrap_or(false),
        })
    }

    /// The tools `server` offers.
    pub async fn tools(
        &self,
        sandbox: Option<&Sandbox>,
        server: &str,
    ) -> Result<Vec<Tool>, McpUpstreamError> {
        let client = self.client(sandbox, server).await?;
        tokio::time::timeout(CALL_TIMEOUT, client.peer().list_all_tools())
            .await
            .map_err(|_| McpUpstreamError::Failed {
                server: server.to_string(),
                reason: "tools/list did not answer in time".to_string(),
            })?
            .map_err(|e| McpUpstreamError::Failed {
                server: server.to_string(),
                reason: e.to_string(),
            })
    }

    /// The running client of `server`, started (again) when it is not running.
    async fn client(
        &self,
        sandbox: Option<&Sandbox>,
        server: &str,
    ) -> Result<Arc<Client>, McpUpstreamError> {
        let spec = self
            .specs
            .iter()
            .find(|s| s.name == server)
            .ok_or_else(|| McpUpstreamError::Unknown(server.to_string()))?;
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(server) {
            if !client.is_closed() {
                return Ok(client.clone());
            }
            tracing::warn!(upstream = server, "MCP upstream exited; starting it again");
        }
        let not_started = |reason: String| McpUpstreamError::NotStarted {
            server: server.to_string(),
            reason,
        };
        let client = match &spec.transport {
            UpstreamTransport::Command(command) => {
                let sandbox = sandbox.ok_or_else(|| {
                    not_started(
                        "no sandbox is configured: a child server never runs unconfined".into(),
                    )
                })?;
                let served = sandbox
                    .serve(&command.policy(), &command.argv, START_TIMEOUT)
                    .await
                    .map_err(|e| not_started(e.to_string()))?;
                spec::drain_stderr(server, served.stderr, command.stderr_log.clone());
                let mut handle = served.handle;
                let name = server.to_string();
                let client =
                    tokio::time::timeout(START_TIMEOUT, ().serve((served.stdout, served.stdin)))
                        .await
                        .map_err(|_| not_started("no MCP handshake in time".into()))?
                        .map_err(|e| not_started(format!("MCP handshake: {e}")))?;
                tokio::spawn(async move {
                    let how = handle.ended().await;
                    tracing::warn!(upstream = %name, ended = %how, "MCP upstream ended");
                });
                client
            }
        };
        let client = Arc::new(client);
        clients.insert(server.to_string(), client.clone());
        tracing::info!(upstream = server, "MCP upstream started");
        Ok(client)
    }
}
