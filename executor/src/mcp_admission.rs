//! `mcp.call` at admission: the server and tool names and the JSON arguments, checked before
//! the grant's Datalog sees the resource `SERVER/TOOL`. Whether the server is one this executor
//! fronts is known only when the call is forwarded, so `Check` answers for any server name.

use serde_json::Value;
use trust_sdk::mcp_resource;

use crate::error::Refusal;
use crate::operations::{McpCall, Operation};

/// Most bytes of a call's JSON arguments.
pub const MAX_ARGUMENTS_BYTES: usize = 1 << 20;

/// The `mcp.call` operation, or an `mcp-call` refusal naming what is malformed.
pub fn mcp_operation(server: &str, tool: &str, arguments_json: &str) -> Result<Operation, Refusal> {
    let bad = |message: String| Refusal::invalid("mcp-call", message);
    if !mcp_resource::valid_server_name(server) {
        return Err(bad(format!("bad MCP server name `{server}`")));
    }
    if !mcp_resource::valid_tool_name(tool) {
        return Err(bad(format!("bad MCP tool name `{tool}`")));
    }
    if arguments_json.len() > MAX_ARGUMENTS_BYTES {
        return Err(bad(format!(
            "the arguments are {} bytes, over {MAX_ARGUMENTS_BYTES}",
            arguments_json.len()
        )));
    }
    if !arguments_json.trim().is_empty() {
        match serde_json::from_str::<Value>(arguments_json) {
            Ok(Value::Object(_)) => {}
            Ok(_) => return Err(bad("the arguments must be a JSON object".to_string())),
            Err(e) => return Err(bad(format!("the arguments are not JSON: {e}"))),
        }
    }
    Ok(Operation::McpCall(McpCall {
        server: server.to_string(),
        tool: tool.to_string(),
        arguments_json: arguments_json.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arguments_are_checked() {
        let Ok(Operation::McpCall(call)) =
            mcp_operation("files", "read_text_file", r#"{"path":"a"}"#)
        else {
            panic!("not an mcp call")
        };
        assert_eq!(call.arguments_json, r#"{"path":"a"}"#);
        assert!(mcp_operation("files", "t", "").is_ok());
        for (server, tool, args) in [
            ("../x", "t", ""),
            ("files", "a/b", ""),
            ("files", "t", "[1]"),
            ("files", "t", "{"),
        ] {
            let err = mcp_operation(server, tool, args).unwrap_err();
            assert_eq!(err.check, "mcp-call", "{server} {tool} {args}");
        }
    }
}
