//! The MCP tools the executor offers, one per operation it runs, and which of them a grant
//! names: what `tools/list` shows.
//!
//! A tool is listed when the grant's authority block names its operation: a `scope` fact for
//! the `fs.*` operations and `shell.exec`, a `command` fact for `proc.run`. Its description
//! says what the grant lets it touch (path prefixes, command names); the executor still
//! decides every call.

use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{json, Map, Value};
use trust_sdk::operation::Operation;
use trust_sdk::vocabulary::GrantClaims;

/// One MCP tool: its name, the operation it runs and what it says about itself.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec {
    /// The MCP tool name (`fs_read`): letters, digits and `_` only, as every client accepts.
    pub name: &'static str,
    pub operation: Operation,
    description: &'static str,
}

/// Every tool, in the order they are listed.
pub const TOOLS: [ToolSpec; 7] = [
    ToolSpec {
        name: "fs_read",
        operation: Operation::FsRead,
        description: "Read a workspace file (UTF-8 text, or base64 for binary content).",
    },
    ToolSpec {
        name: "fs_list",
        operation: Operation::FsList,
        description: "List a workspace directory.",
    },
    ToolSpec {
        name: "fs_search",
        operation: Operation::FsSearch,
        description: "Search workspace file contents for a literal text or a regex.",
    },
    ToolSpec {
        name: "fs_write",
        operation: Operation::FsWrite,
        description: "Create or overwrite a workspace file.",
    },
    ToolSpec {
        name: "fs_patch",
        operation: Operation::FsPatch,
        description: "Apply a unified diff to workspace files (all hunks or nothing).",
    },
    ToolSpec {
        name: "proc_run",
        operation: Operation::ProcRun,
        description: "Run a command the grant names (its argv comes from the grant), sandboxed.",
    },
    ToolSpec {
        name: "shell_exec",
        operation: Operation::ShellExec,
        description: "Run shell text with `sh -c`, sandboxed; the grant's shell policy decides it.",
    },
];

/// The tool called `name`, if the executor offers one.
pub fn by_name(name: &str) -> Option<ToolSpec> {
    TOOLS.into_iter().find(|t| t.name == name)
}

/// The tools `claims` names, with their argument schemas.
pub fn listed(claims: &GrantClaims) -> Vec<Tool> {
    TOOLS
        .into_iter()
        .filter_map(|spec| {
            let reach = reach(claims, spec.operation)?;
            Some(Tool::new(
                spec.name,
                format!("{} Allowed by the grant: {reach}.", spec.description),
                Arc::new(schema(spec.operation, claims)),
            ))
        })
        .collect()
}

/// What the grant lets `operation` touch, in words; `None` when it does not name it.
fn reach(claims: &GrantClaims, operation: Operation) -> Option<String> {
    if operation == Operation::ProcRun {
        let names: Vec<&str> = claims.commands.iter().map(|(n, _)| n.as_str()).collect();
        return (!names.is_empty()).then(|| format!("commands {}", names.join(", ")));
    }
    let prefixes: Vec<String> = claims
        .scopes
        .iter()
        .filter(|(op, _)| op == operation.as_str())
        .map(|(_, prefix)| {
            if prefix.is_empty() {
                "the whole workspace".to_string()
            } else {
                format!("{prefix}/")
            }
        })
        .collect();
    (!prefixes.is_empty()).then(|| prefixes.join(", "))
}

/// The JSON schema of the tool's arguments.
fn schema(operation: Operation, claims: &GrantClaims) -> Map<String, Value> {
    let path =
        json!({"type": "string", "description": "Workspace-relative path (\"\" is the root)."});
    let cwd = json!({"type": "string", "description": "Working directory, workspace-relative."});
    let timeout = json!({"type": "integer", "minimum": 0, "description": "Milliseconds; 0 is the grant's limit."});
    let (properties, required) = match operation {
        Operation::FsRead => (
            json!({"path": path, "offset": {"type": "integer", "minimum": 0},
                   "length": {"type": "integer", "minimum": 0, "description": "0 reads up to the size cap."}}),
            vec!["path"],
        ),
        Operation::FsList => (
            json!({"path": path, "max_depth": {"type": "integer", "minimum": 0},
                   "max_entries": {"type": "integer", "minimum": 0}}),
            vec!["path"],
        ),
        Operation::FsSearch => (
            json!({"path": path, "pattern": {"type": "string"}, "regex": {"type": "boolean"},
                   "case_insensitive": {"type": "boolean"},
                   "max_matches": {"type": "integer", "minimum": 0}}),
            vec!["path", "pattern"],
        ),
        Operation::FsWrite => (
            json!({"path": path, "content": {"type": "string"},
                   "expected_sha256": {"type": "string", "description": "Hex SHA-256 the current content must have."},
                   "create_only": {"type": "boolean"}}),
            vec!["path", "content"],
        ),
        Operation::FsPatch => (
            json!({"path": path, "diff": {"type": "string", "description": "A unified diff."}}),
            vec!["diff"],
        ),
        Operation::ProcRun => {
            let names: Vec<&str> = claims.commands.iter().map(|(n, _)| n.as_str()).collect();
            (
                json!({"command": {"type": "string", "enum": names}, "cwd": cwd, "timeout_ms": timeout}),
                vec!["command"],
            )
        }
        Operation::ShellExec => (
            json!({"command": {"type": "string", "description": "Shell text."}, "cwd": cwd, "timeout_ms": timeout}),
            vec!["command"],
        ),
        // Operations the executor does not offer as MCP tools: never listed (see `TOOLS`).
        _ => (json!({}), vec![]),
    };
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), properties);
    schema.insert("required".into(), json!(required));
    schema.insert("additionalProperties".into(), json!(false));
    schema
}
