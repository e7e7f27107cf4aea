//! What the MCP gateway lists for a grant: the tools of the configured upstreams that the
//! grant's `mcp.call` scopes name (`SERVER/TOOL`, or `SERVER/` for all of a server's tools).
//! A tool the grant does not name is left out with its schema; no scope, no tool.

use trust_sdk::mcp_resource;
use trust_sdk::operation::Operation as Kind;

use crate::error::Refusal;
use crate::execution::Execution;

/// The listed tools (server, the upstream's tool as JSON) and the upstreams the grant names
/// that could not be listed, with why.
#[derive(Debug, Default)]
pub struct McpListing {
    pub tools: Vec<(String, String)>,
    pub unavailable: Vec<String>,
}

/// The tools `grant` names, after it verified (see `Admission::presented_claims`).
pub async fn listed_tools(
    execution: &Execution,
    grant: &[u8],
    now_ms: i64,
) -> Result<McpListing, Refusal> {
    let claims = execution.admission.presented_claims(grant, now_ms)?;
    let scopes: Vec<&str> = claims
        .scopes
        .iter()
        .filter(|(op, _)| op == Kind::McpCall.as_str())
        .map(|(_, resource)| resource.as_str())
        .collect();
    let limits = &execution.operation_limits;
    let upstreams = &limits.mcp_upstreams;
    let mut listing = McpListing::default();
    for server in upstreams.names() {
        let prefix = format!("{server}/");
        let named = scopes
            .iter()
            .any(|s| s.is_empty() || s.starts_with(&prefix) || *s == server);
        if !named {
            continue;
        }
        match upstreams.tools(limits.sandbox.as_deref(), server).await {
            Ok(tools) => {
                for tool in tools {
                    if !mcp_resource::scopes_name(scopes.iter().copied(), server, &tool.name) {
                        continue;
                    }
                    if let Ok(json) = serde_json::to_string(&tool) {
                        listing.tools.push((server.to_string(), json));
                    }
                }
            }
            Err(e) => listing.unavailable.push(e.to_string()),
        }
    }
    Ok(listing)
}
