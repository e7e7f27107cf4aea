//! `tool-executor mcp-gateway`: the MCP servers the executor fronts (`[[mcp_upstream]]`),
//! shown to an agent runtime through the grant it presents. `tools/list` asks the executor
//! for the upstream tools the grant names (`ListMcpTools`; the others, and their schemas, are
//! never sent); `tools/call` is an `Execute` of `mcp.call` on `SERVER/TOOL` with a fresh
//! holder proof, so admission, forwarding and provenance (digests of arguments and result)
//! are the executor's, exactly as over gRPC. A refusal comes back as a tool error naming the
//! failed check and never reaches the upstream.
//!
//! Tools are named `SERVER.TOOL` (a server name has no `.`).

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::execute_response::Result as Answer;
use trust_sdk::client::ExecutorClient;
use trust_sdk::transport::Transport;

use super::front::presented_grant;
use super::outcome;

/// One gateway: a client of the executor, the agent's key and the grant given at start.
#[derive(Clone)]
pub struct McpGateway {
    executor: ExecutorClient,
    agent_key: Arc<SigningKey>,
    grant: Option<Arc<Vec<u8>>>,
}

impl McpGateway {
    /// Connects to the executor (lazily: a service that is down shows up at the first call).
    pub async fn connect(
        executor: &str,
        transport: &Transport,
        agent_key: SigningKey,
        grant: Option<Arc<Vec<u8>>>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            executor: ExecutorClient::connect(executor, transport).await?,
            agent_key: Arc::new(agent_key),
            grant,
        })
    }
}

/// `SERVER.TOOL` → (`SERVER`, `TOOL`).
fn split_name(name: &str) -> Option<(&str, &str)> {
    let (server, tool) = name.split_once('.')?;
    (trust_sdk::mcp_resource::valid_server_name(server)
        && trust_sdk::mcp_resource::valid_tool_name(tool))
    .then_some((server, tool))
}

impl ServerHandler for McpGateway {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "trust-authority-mcp-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "The tools of MCP servers fronted by the Trust Authority executor, named \
                 SERVER.TOOL. Only the tools your grant names are listed; each call is admitted, \
                 forwarded and recorded by the executor.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let Some(grant) = presented_grant(&self.grant, &context)? else {
            return Ok(ListToolsResult::with_all_items(Vec::new()));
        };
        let listing = self
            .executor
            .clone()
            .list_mcp_tools(&grant)
            .await
            .map_err(|e| McpError::invalid_request(e.to_string(), None))?;
        for problem in &listing.unavailable {
            tracing::warn!(%problem, "an MCP upstream the grant names could not be listed");
        }
        let tools = listing
            .tools
            .into_iter()
            .filter_map(|info| {
                let mut tool: Tool = serde_json::from_str(&info.tool_json).ok()?;
                tool.name = format!("{}.{}", info.server, info.name).into();
                Some(tool)
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some((server, tool)) = split_name(&request.name) else {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool `{}` (tools are named SERVER.TOOL)",
                    request.name
                ),
                None,
            ));
        };
        let Some(grant) = presented_grant(&self.grant, &context)? else {
            return Ok(outcome::refused_here(
                "Unauthenticated",
                "no grant was presented: start the gateway with --grant or send \
                 `Authorization: Bearer <base64 grant>`",
            )
            .into());
        };
        let arguments_json = match &request.arguments {
            Some(map) => serde_json::Value::Object(map.clone()).to_string(),
            None => String::new(),
        };
        let operation = pb::invocation::Operation::McpCall(pb::McpCallRequest {
            server: server.to_string(),
            tool: tool.to_string(),
            arguments_json,
        });
        let answer = self
            .executor
            .clone()
            .execute(&grant, &self.agent_key, operation)
            .await;
        let result = match answer {
            Ok(pb::ExecuteResponse {
                result: Some(Answer::McpCall(call)),
                ..
            }) => serde_json::from_str::<CallToolResult>(&call.result_json).map_err(|e| {
                McpError::internal_error(format!("the upstream's result does not parse: {e}"), None)
            })?,
            Ok(_) => {
                return Err(McpError::internal_error(
                    "the executor answered an mcp.call with another result",
                    None,
                ))
            }
            Err(error) => {
                tracing::info!(tool = %request.name, %error, "MCP gateway call refused");
                outcome::refusal(&error)
            }
        };
        Ok(result.into())
    }
}
