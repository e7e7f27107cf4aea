//! The MCP server itself: `tools/list` from the presented grant's claims, `tools/call` as an
//! `Execute` at the executor under that grant with a fresh holder proof.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use trust_sdk::client::{AuthorityClient, ExecutorClient};
use trust_sdk::transport::Transport;

use super::grant_view::{decode_grant, verified_claims};
use super::{arguments, catalogue, outcome};

/// One MCP front: clients of the executor and the authority, the agent's key, and the grant
/// given at start (a request's bearer grant, over HTTP, takes its place).
#[derive(Clone)]
pub struct McpFront {
    executor: ExecutorClient,
    authority: AuthorityClient,
    agent_key: Arc<SigningKey>,
    grant: Option<Arc<Vec<u8>>>,
}

impl McpFront {
    /// Connects to both services (lazily: a service that is down shows up at the first call).
    pub async fn connect(
        executor: &str,
        authority: &str,
        transport: &Transport,
        agent_key: SigningKey,
        grant: Option<Arc<Vec<u8>>>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            executor: ExecutorClient::connect(executor, transport).await?,
            authority: AuthorityClient::connect(authority, transport).await?,
            agent_key: Arc::new(agent_key),
            grant,
        })
    }

    /// The grant this request runs under (see [`presented_grant`]).
    fn presented_grant(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Arc<Vec<u8>>>, McpError> {
        presented_grant(&self.grant, context)
    }
}

/// The grant a request runs under: the request's `Authorization: Bearer` grant over HTTP,
/// else `at_start`, the grant given at start. A malformed header is an error, never ignored.
pub(super) fn presented_grant(
    at_start: &Option<Arc<Vec<u8>>>,
    context: &RequestContext<RoleServer>,
) -> Result<Option<Arc<Vec<u8>>>, McpError> {
    let header = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::AUTHORIZATION));
    let Some(header) = header else {
        return Ok(at_start.clone());
    };
    let bearer = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            McpError::invalid_request(
                "the Authorization header must be `Bearer <base64 grant>`",
                None,
            )
        })?;
    let grant = decode_grant(bearer.trim().as_bytes())
        .map_err(|e| McpError::invalid_request(format!("bearer grant: {e}"), None))?;
    Ok(Some(Arc::new(grant)))
}

impl ServerHandler for McpFront {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "trust-authority-executor",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Every tool runs at the Trust Authority executor under your grant: it admits, \
                 runs inside the grant's bounds and records each call. Only the tools your \
                 grant names are listed.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let Some(grant) = self.presented_grant(&context)? else {
            return Ok(ListToolsResult::with_all_items(Vec::new()));
        };
        let claims = verified_claims(&self.authority, &grant)
            .await
            .map_err(|e| McpError::invalid_request(e.to_string(), None))?;
        Ok(ListToolsResult::with_all_items(catalogue::listed(&claims)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(spec) = catalogue::by_name(&request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        let Some(grant) = self.presented_grant(&context)? else {
            return Ok(outcome::refused_here(
                "Unauthenticated",
                "no grant was presented: start the server with --grant or send \
                 `Authorization: Bearer <base64 grant>`",
            )
            .into());
        };
        let operation = match arguments::operation(spec.name, spec.operation, request.arguments) {
            Ok(operation) => operation,
            Err(e) => return Ok(outcome::refused_here("InvalidArgument", &e.to_string()).into()),
        };
        let answer = self
            .executor
            .clone()
            .execute(&grant, &self.agent_key, operation)
            .await;
        Ok(match answer {
            Ok(response) => outcome::success(response),
            Err(error) => {
                tracing::info!(tool = spec.name, %error, "tool call refused by the executor");
                outcome::refusal(&error)
            }
        }
        .into())
    }
}
