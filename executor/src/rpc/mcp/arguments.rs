//! A tool call's JSON arguments turned into the operation the executor runs: strict (unknown
//! or missing fields are refused with their name), nothing defaulted that admission decides.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::operation::Operation;

/// Why a tool call's arguments cannot become an operation.
#[derive(Debug, thiserror::Error)]
#[error("arguments of `{tool}`: {reason}")]
pub struct BadArguments {
    pub tool: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    path: String,
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    length: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    path: String,
    #[serde(default)]
    max_depth: u32,
    #[serde(default)]
    max_entries: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    path: String,
    pattern: String,
    #[serde(default)]
    regex: bool,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default)]
    max_matches: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Write {
    path: String,
    content: String,
    #[serde(default)]
    expected_sha256: String,
    #[serde(default)]
    create_only: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    path: String,
    diff: String,
}

/// `proc_run` and `shell_exec` take the same fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    command: String,
    #[serde(default)]
    cwd: String,
    #[serde(default)]
    timeout_ms: u32,
}

/// The operation `tool` (running `operation`) asks for with `arguments`.
pub fn operation(
    tool: &str,
    operation: Operation,
    arguments: Option<Map<String, Value>>,
) -> Result<Op, BadArguments> {
    let value = Value::Object(arguments.unwrap_or_default());
    let bad = |reason: String| BadArguments {
        tool: tool.to_string(),
        reason,
    };
    Ok(match operation {
        Operation::FsRead => {
            let a: Read = decode(tool, value)?;
            Op::Read(pb::ReadRequest {
                path: a.path,
                offset: a.offset,
                length: a.length,
            })
        }
        Operation::FsList => {
            let a: List = decode(tool, value)?;
            Op::List(pb::ListRequest {
                path: a.path,
                max_depth: a.max_depth,
                max_entries: a.max_entries,
            })
        }
        Operation::FsSearch => {
            let a: Search = decode(tool, value)?;
            Op::Search(pb::SearchRequest {
                path: a.path,
                pattern: a.pattern,
                regex: a.regex,
                case_insensitive: a.case_insensitive,
                max_matches: a.max_matches,
            })
        }
        Operation::FsWrite => {
            let a: Write = decode(tool, value)?;
            Op::Write(pb::WriteRequest {
                path: a.path,
                content: a.content.into_bytes(),
                expected_sha256: a.expected_sha256,
                create_only: a.create_only,
            })
        }
        Operation::FsPatch => {
            let a: Patch = decode(tool, value)?;
            Op::Patch(pb::PatchRequest {
                path: a.path,
                diff: a.diff,
            })
        }
        Operation::ProcRun => {
            let a: Command = decode(tool, value)?;
            Op::Run(pb::RunRequest {
                command: a.command,
                cwd: a.cwd,
                timeout_ms: a.timeout_ms,
                file_sha256: Default::default(),
            })
        }
        Operation::ShellExec => {
            let a: Command = decode(tool, value)?;
            trust_sdk::client::shell_operation(&a.command, &a.cwd, a.timeout_ms)
        }
        other => {
            return Err(bad(format!(
                "`{other}` is not offered as an MCP tool by this executor"
            )))
        }
    })
}

fn decode<T: DeserializeOwned>(tool: &str, value: Value) -> Result<T, BadArguments> {
    serde_json::from_value(value).map_err(|e| BadArguments {
        tool: tool.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(value: Value) -> Option<Map<String, Value>> {
        value.as_object().cloned()
    }

    #[test]
    fn arguments_become_the_operation_they_name() {
        let op = operation(
            "fs_read",
            Operation::FsRead,
            args(json!({"path": "src/a.rs", "length": 10})),
        )
        .unwrap();
        assert_eq!(
            op,
            Op::Read(pb::ReadRequest {
                path: "src/a.rs".into(),
                offset: 0,
                length: 10
            })
        );
        let op = operation(
            "shell_exec",
            Operation::ShellExec,
            args(json!({"command": "ls"})),
        )
        .unwrap();
        assert_eq!(op, trust_sdk::client::shell_operation("ls", "", 0));
    }

    #[test]
    fn unknown_missing_or_mistyped_fields_are_refused_by_name() {
        let unknown = operation(
            "fs_read",
            Operation::FsRead,
            args(json!({"path": "a", "argv": ["rm"]})),
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `argv`"),
            "{unknown}"
        );
        let missing =
            operation("fs_write", Operation::FsWrite, args(json!({"path": "a"}))).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `content`"),
            "{missing}"
        );
        let mistyped = operation(
            "proc_run",
            Operation::ProcRun,
            args(json!({"command": "test", "timeout_ms": -1})),
        )
        .unwrap_err();
        assert!(
            mistyped.to_string().starts_with("arguments of `proc_run`"),
            "{mistyped}"
        );
        let none = operation("fs_list", Operation::FsList, None).unwrap_err();
        assert!(none.to_string().contains("missing field `path`"), "{none}");
    }

    #[test]
    fn operations_not_offered_as_tools_are_refused() {
        let err = operation("x", Operation::NetHttp, None).unwrap_err();
        assert!(err.to_string().contains("not offered"), "{err}");
    }
}
