//! The resource of an `mcp.call` request: `SERVER/TOOL` (or `SERVER/`, every tool of a
//! server), checked with the SDK's one parser so the authority grants exactly what the
//! executor and the gateway will read back.

use trust_sdk::mcp_resource;

/// `raw` as the grant's scope states it, or why it is not an `mcp.call` resource.
pub(super) fn normalize(raw: &str) -> Result<String, String> {
    mcp_resource::parse(raw)
        .map(|_| raw.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_tool_names_are_checked() {
        assert_eq!(
            normalize("everything/echo").as_deref(),
            Ok("everything/echo")
        );
        assert_eq!(normalize("files/").as_deref(), Ok("files/"));
        for bad in ["echo", "../x", "files/a/b", "files/*", "/echo", "a b/c"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
