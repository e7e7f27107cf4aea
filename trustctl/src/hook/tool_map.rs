//! Claude Code's tools as executor operations, in one place: `Read` → `fs.read`,
//! `Edit`/`MultiEdit` → `fs.patch`, `Write` → `fs.write`, `Grep` → `fs.search`, `Glob`/`LS` →
//! `fs.list`, `Bash` → `shell.exec` (classified by the executor), `WebFetch` → `net.http` `GET`
//! of the URL (checked by the executor like any `net.http`), `mcp__SERVER__TOOL` → `mcp.call` on
//! `SERVER/TOOL` (the tool's input, as JSON, is the call's arguments: provenance records its
//! digest).
//!
//! Paths are made relative to the session's project: a relative path is taken from the hook's
//! `cwd`, `.` and `..` are resolved, and the part that exists is resolved through symlinks, so a
//! path (or a link) leading outside the project is refused here, before any check.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;

/// Tools that touch nothing outside the conversation (Claude Code's own bookkeeping); a
/// subagent started by `Task` has each of its tool calls checked in turn.
pub const INERT_TOOLS: &[&str] = &["TodoWrite", "TodoRead", "ExitPlanMode", "Task"];

/// What a tool call is, for the executor.
#[derive(Debug, Clone)]
pub enum Mapped {
    /// An operation `Check` can admit.
    Operation(Op),
    /// A tool that touches nothing outside the conversation.
    Inert,
}

/// Why a tool call cannot be mapped (each is denied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("unknown tool `{0}`: the trust hook denies tools it cannot map to an operation")]
    UnknownTool(String),
    #[error("tool `{tool}` input has no string `{field}`")]
    MissingField { tool: String, field: &'static str },
    #[error("`{0}` is outside the session's project")]
    OutsideProject(String),
    #[error("the working directory `{0}` is outside the session's project")]
    CwdOutsideProject(String),
    #[error("`{0}` is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("`{0}` does not name an MCP server and tool (`mcp__SERVER__TOOL`)")]
    BadMcpName(String),
}

impl MapError {
    /// The short name the hook's reason gives as the deciding check.
    pub fn check(&self) -> &'static str {
        match self {
            MapError::UnknownTool(_) => "unknown-tool",
            MapError::MissingField { .. } => "hook-input",
            MapError::OutsideProject(_) | MapError::CwdOutsideProject(_) => "outside-workspace",
            MapError::BadUrl(_) => "hook-input",
            MapError::BadMcpName(_) => "hook-input",
        }
    }
}

/// The project a session guards and the directory the tool runs in.
pub struct Place {
    /// The project root, symlinks resolved where it exists.
    pub project: PathBuf,
    /// The hook's `cwd`.
    pub cwd: PathBuf,
}

impl Place {
    pub fn new(project: &Path, cwd: &Path) -> Self {
        Self {
            project: resolve(&lexical(project).unwrap_or_else(|| project.to_path_buf())),
            cwd: cwd.to_path_buf(),
        }
    }

    /// `raw` (absolute, or relative to `cwd`) as a project-relative path ("" for the root).
    pub fn relative(&self, raw: &str) -> Result<String, MapError> {
        let outside = || MapError::OutsideProject(raw.to_string());
        let path = Path::new(raw);
        let joined = match path.is_absolute() {
            true => path.to_path_buf(),
            false => self.cwd.join(path),
        };
        let resolved = resolve(&lexical(&joined).ok_or_else(outside)?);
        let rest = resolved
            .strip_prefix(&self.project)
            .map_err(|_| outside())?;
        let text = rest.to_str().ok_or_else(outside)?;
        Ok(text.to_string())
    }

    /// The working directory as a project-relative path.
    fn cwd_relative(&self) -> Result<String, MapError> {
        let cwd = self.cwd.to_string_lossy().into_owned();
        self.relative(&cwd)
            .map_err(|_| MapError::CwdOutsideProject(cwd))
    }
}

/// `path` with `.` and `..` resolved lexically; `None` if `..` climbs above the root or the
/// path is not absolute.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir => out = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
            Component::Prefix(_) => return None,
        }
    }
    path.is_absolute().then_some(out)
}

/// `path` with its longest existing ancestor resolved through symlinks (the rest appended).
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn text<'a>(tool: &str, input: &'a Value, field: &'static str) -> Result<&'a str, MapError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| MapError::MissingField {
            tool: tool.to_string(),
            field,
        })
}

/// The optional `path` of a search or listing, or the working directory.
fn path_or_cwd(place: &Place, input: &Value) -> Result<String, MapError> {
    match input.get("path").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => place.relative(p),
        _ => place.cwd_relative(),
    }
}

/// One tool call of Claude Code as an operation.
pub fn map_tool(tool: &str, input: &Value, place: &Place) -> Result<Mapped, MapError> {
    if INERT_TOOLS.contains(&tool) {
        return Ok(Mapped::Inert);
    }
    if let Some(name) = tool.strip_prefix("mcp__") {
        return match name.split_once("__") {
            Some((server, tool_name))
                if trust_sdk::mcp_resource::valid_server_name(server)
                    && trust_sdk::mcp_resource::valid_tool_name(tool_name) =>
            {
                Ok(Mapped::Operation(Op::McpCall(pb::McpCallRequest {
                    server: server.to_string(),
                    tool: tool_name.to_string(),
                    arguments_json: input.to_string(),
                })))
            }
            _ => Err(MapError::BadMcpName(tool.to_string())),
        };
    }
    let op = match tool {
        "Read" => Op::Read(pb::ReadRequest {
            path: place.relative(text(tool, input, "file_path")?)?,
            offset: 0,
            length: 0,
        }),
        "Write" => Op::Write(pb::WriteRequest {
            path: place.relative(text(tool, input, "file_path")?)?,
            content: text(tool, input, "content")?.as_bytes().to_vec(),
            expected_sha256: String::new(),
            create_only: false,
        }),
        "Edit" => {
            let path = place.relative(text(tool, input, "file_path")?)?;
            let edits = [(
                text(tool, input, "old_string")?,
                text(tool, input, "new_string")?,
            )];
            Op::Patch(pb::PatchRequest {
                path: String::new(),
                diff: diff_of(&path, &edits),
            })
        }
        "MultiEdit" => {
            let path = place.relative(text(tool, input, "file_path")?)?;
            let missing = || MapError::MissingField {
                tool: tool.to_string(),
                field: "edits",
            };
            let list = input
                .get("edits")
                .and_then(Value::as_array)
                .ok_or_else(missing)?;
            let edits = list
                .iter()
                .map(|e| Ok((text(tool, e, "old_string")?, text(tool, e, "new_string")?)))
                .collect::<Result<Vec<_>, MapError>>()?;
            Op::Patch(pb::PatchRequest {
                path: String::new(),
                diff: diff_of(&path, &edits),
            })
        }
        "Grep" => Op::Search(pb::SearchRequest {
            path: path_or_cwd(place, input)?,
            pattern: text(tool, input, "pattern")?.to_string(),
            regex: true,
            case_insensitive: input.get("-i").and_then(Value::as_bool).unwrap_or(false),
            max_matches: 0,
        }),
        "Glob" | "LS" => Op::List(pb::ListRequest {
            path: path_or_cwd(place, input)?,
            max_depth: 0,
            max_entries: 0,
        }),
        "Bash" => Op::Shell(pb::ShellRequest {
            command: text(tool, input, "command")?.to_string(),
            cwd: place.cwd_relative()?,
            timeout_ms: 0,
        }),
        "WebFetch" => {
            // The executor checks the URL itself (strict host spelling, the grant's hosts,
            // methods and paths); here only that it is an http(s) URL at all.
            let url = text(tool, input, "url")?;
            url_host(url).ok_or_else(|| MapError::BadUrl(url.to_string()))?;
            Op::Http(pb::HttpRequest {
                method: "GET".into(),
                url: url.to_string(),
                ..Default::default()
            })
        }
        other => return Err(MapError::UnknownTool(other.to_string())),
    };
    Ok(Mapped::Operation(op))
}

/// The host of an `http`/`https` URL, lowercased, without user info or port.
pub fn url_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A unified diff of `path` replacing the edits' old texts by their new texts, as one hunk
/// (hunks of a diff must not overlap, and every edit's position is unknown here). Only the
/// file it names and its size matter to a check; the agent applies the edits itself.
fn diff_of(path: &str, edits: &[(&str, &str)]) -> String {
    let old_lines: Vec<&str> = edits.iter().flat_map(|(old, _)| old.lines()).collect();
    let new_lines: Vec<&str> = edits.iter().flat_map(|(_, new)| new.lines()).collect();
    let start = |n: usize| usize::from(n != 0);
    let mut diff = format!(
        "--- a/{path}\n+++ b/{path}\n@@ -{},{} +{},{} @@\n",
        start(old_lines.len()),
        old_lines.len(),
        start(new_lines.len()),
        new_lines.len()
    );
    for line in old_lines {
        diff.push_str(&format!("-{line}\n"));
    }
    for line in new_lines {
        diff.push_str(&format!("+{line}\n"));
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn place() -> Place {
        Place::new(
            Path::new("/nonexistent/acme"),
            Path::new("/nonexistent/acme"),
        )
    }

    #[test]
    fn paths_are_project_relative_and_never_leave_it() {
        let p = place();
        assert_eq!(
            p.relative("/nonexistent/acme/src/lib.rs").unwrap(),
            "src/lib.rs"
        );
        assert_eq!(p.relative("src/../README.md").unwrap(), "README.md");
        assert_eq!(p.relative("/nonexistent/acme").unwrap(), "");
        for outside in [
            "/etc/passwd",
            "../other/x",
            "/nonexistent/acme/../acme2/x",
            "/nonexistent/acmefoo",
            "/../../..",
        ] {
            assert!(p.relative(outside).is_err(), "{outside}");
        }
    }

    #[test]
    fn tools_map_to_operations() {
        let p = place();
        let fetch = map_tool("WebFetch", &json!({"url": "https://docs.rs/x"}), &p);
        assert!(
            matches!(fetch, Ok(Mapped::Operation(Op::Http(ref h))) if h.method == "GET" && h.url == "https://docs.rs/x"),
            "{fetch:?}"
        );
        assert_eq!(
            url_host("https://u:p@Docs.rs:443/x").as_deref(),
            Some("docs.rs")
        );
        let mcp = map_tool("mcp__github__create_issue", &json!({"title": "t"}), &p);
        assert!(
            matches!(mcp, Ok(Mapped::Operation(Op::McpCall(ref c)))
                if c.server == "github" && c.tool == "create_issue"
                    && c.arguments_json == r#"{"title":"t"}"#),
            "{mcp:?}"
        );
        assert!(map_tool("mcp__github", &json!({}), &p).is_err());
        assert!(map_tool("mcp____x", &json!({}), &p).is_err());
        assert!(map_tool("mcp__a/b__x", &json!({}), &p).is_err());
        assert_eq!(
            map_tool("Frobnicate", &json!({}), &p).unwrap_err(),
            MapError::UnknownTool("Frobnicate".into())
        );
        let Ok(Mapped::Operation(Op::Patch(patch))) = map_tool(
            "Edit",
            &json!({"file_path": "src/a.rs", "old_string": "a\nb", "new_string": "c"}),
            &p,
        ) else {
            panic!("Edit is a patch");
        };
        assert_eq!(
            patch.diff,
            "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,2 +1,1 @@\n-a\n-b\n+c\n"
        );
    }
}
