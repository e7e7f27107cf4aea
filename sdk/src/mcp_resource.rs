//! The resource of `mcp.call`: `SERVER/TOOL`, the name of an upstream MCP server the executor
//! fronts and the name of one of its tools. One parser for the authority (profiles and
//! requests), the executor (admission and the gateway's listing) and the Claude Code hook.
//!
//! A grant names a tool as the scope `("mcp.call", "SERVER/TOOL")`, or every tool of a
//! server as `("mcp.call", "SERVER/")`; the authority block's scope check does the rest.

/// Longest server or tool name accepted.
pub const MAX_NAME_BYTES: usize = 128;

/// Why a text is not an `mcp.call` resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpResourceError {
    #[error("an `mcp.call` resource is `SERVER/TOOL`; `{0}` has no `/`")]
    NoSlash(String),
    #[error("bad {what} name `{name}`: letters, digits, `_`, `-` and `.`, at most {MAX_NAME_BYTES} bytes")]
    BadName { what: &'static str, name: String },
}

/// An upstream server's name (as `[[mcp_upstream]] name` gives it) is well formed.
pub fn valid_server_name(name: &str) -> bool {
    valid_name(name) && !name.contains('.')
}

/// A tool name as MCP servers spell them (`read_text_file`, `get-sum`, `ns.tool`).
pub fn valid_tool_name(name: &str) -> bool {
    valid_name(name)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `SERVER/TOOL`.
pub fn resource(server: &str, tool: &str) -> String {
    format!("{server}/{tool}")
}

/// Splits `SERVER/TOOL`; `SERVER/` (every tool of a server, in a scope) gives an empty tool.
pub fn parse(resource: &str) -> Result<(&str, &str), McpResourceError> {
    let (server, tool) = resource
        .split_once('/')
        .ok_or_else(|| McpResourceError::NoSlash(resource.to_string()))?;
    if !valid_server_name(server) {
        return Err(McpResourceError::BadName {
            what: "server",
            name: server.to_string(),
        });
    }
    if !tool.is_empty() && !valid_tool_name(tool) {
        return Err(McpResourceError::BadName {
            what: "tool",
            name: tool.to_string(),
        });
    }
    Ok((server, tool))
}

/// Whether the `mcp.call` scopes of a grant (`SERVER/TOOL` or `SERVER/`) name `server`'s
/// `tool`: the same test the authority block's scope check makes (`$r == $p ||
/// $r.starts_with(directory form of $p)`).
pub fn scopes_name<'a>(
    scopes: impl IntoIterator<Item = &'a str>,
    server: &str,
    tool: &str,
) -> bool {
    let wanted = resource(server, tool);
    scopes
        .into_iter()
        .any(|scope| scope == wanted || wanted.starts_with(&crate::path::directory_form(scope)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_and_bad_names_are_refused() {
        assert_eq!(parse("everything/echo"), Ok(("everything", "echo")));
        assert_eq!(parse("files/"), Ok(("files", "")));
        assert_eq!(parse("a/get-sum.v2"), Ok(("a", "get-sum.v2")));
        assert!(matches!(parse("echo"), Err(McpResourceError::NoSlash(_))));
        assert!(parse("../echo").is_err());
        assert!(parse("a/b/c").is_err());
        assert!(parse("a/b c").is_err());
        assert!(parse("/echo").is_err());
    }

    #[test]
    fn scopes_name_a_tool_exactly_or_the_whole_server() {
        let scopes = ["files/read_text_file", "everything/"];
        assert!(scopes_name(scopes, "files", "read_text_file"));
        assert!(!scopes_name(scopes, "files", "write_file"));
        assert!(!scopes_name(scopes, "files", "read_text"));
        assert!(scopes_name(scopes, "everything", "echo"));
        assert!(!scopes_name(scopes, "every", "thing/echo"));
    }
}
