//! The executor's business tools (`tool.invoke`): invoke one, list the ones a grant allows,
//! describe one. Every call proves possession of the grant like `Execute`.

use ed25519_dalek::SigningKey;
use trust_proto::executor::v1 as epb;

use super::{prepare_execute, ExecutorClient};
use crate::clock::now_ms;
use crate::error::SdkError;

/// The `tool.invoke` operation: `tool_id` with `arguments_json` (a JSON object); `tool_version`
/// 0 takes whatever version is certified.
pub fn tool_operation(
    tool_id: &str,
    arguments_json: &str,
    tool_version: u32,
) -> epb::invocation::Operation {
    epb::invocation::Operation::ToolInvoke(epb::ToolInvokeRequest {
        tool_id: tool_id.to_string(),
        arguments_json: arguments_json.to_string(),
        tool_version,
    })
}

impl ExecutorClient {
    /// Calls tool `tool_id` with `arguments_json` under `grant`.
    pub async fn invoke_tool(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        tool_id: &str,
        arguments_json: &str,
        tool_version: u32,
    ) -> Result<epb::ExecuteResponse, SdkError> {
        self.execute(
            grant,
            holder,
            tool_operation(tool_id, arguments_json, tool_version),
        )
        .await
    }

    /// The tools `grant` allows, each schema narrowed to what the grant lets its holder set.
    pub async fn list_tools(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
    ) -> Result<epb::ListToolsResponse, SdkError> {
        let request = prepare_execute(grant, holder, tool_operation("", "{}", 0), now_ms());
        Ok(self.inner.list_tools(request).await?.into_inner())
    }

    /// Tool `tool_id` as `grant` lets its holder see it; a tool the grant lacks answers as a
    /// tool that does not exist.
    pub async fn describe_tool(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        tool_id: &str,
    ) -> Result<epb::ToolDescription, SdkError> {
        self.send_describe_tool(prepare_execute(
            grant,
            holder,
            tool_operation(tool_id, "{}", 0),
            now_ms(),
        ))
        .await
    }

    /// Sends a prepared `DescribeTool` request.
    pub async fn send_describe_tool(
        &mut self,
        request: epb::ExecuteRequest,
    ) -> Result<epb::ToolDescription, SdkError> {
        Ok(self.inner.describe_tool(request).await?.into_inner())
    }
}
