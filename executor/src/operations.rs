//! Structured operations the executor runs for an agent inside a [`Workspace`].
//!
//! These are domain types (no protobuf). An [`Operation`] names the resources it
//! touches ([`Operation::resources`]) and the numeric parameters a grant's
//! limits apply to ([`Operation::params`]); [`execute`] runs it confined to the
//! workspace and yields an [`Outcome`] with a stable [`Outcome::digest`].

use std::time::Duration;

use sha2::{Digest, Sha256};
use trust_sdk::operation::Operation as Kind;

pub use crate::workspace::EntryKind;
use crate::workspace::{normalize_relative, PathReason, Workspace, WorkspaceError};
pub use egress::egress_lines;

mod egress;
mod list;
mod patch;
mod read;
mod run;
mod search;
mod write;

#[cfg(test)]
mod tests;

/// A structured operation requested by an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Read `[offset, offset + length)` of a file; `length` 0 means up to
    /// `limits.max_read_bytes`.
    Read {
        path: String,
        offset: u64,
        length: u64,
    },
    /// List a directory tree; 0 means the limit's default.
    List {
        path: String,
        max_depth: u32,
        max_entries: u32,
    },
    /// Search the files under `path` for a literal or a regular expression.
    Search {
        path: String,
        pattern: String,
        regex: bool,
        case_insensitive: bool,
        max_matches: u32,
    },
    /// Create or replace a file atomically.
    Write {
        path: String,
        content: Vec<u8>,
        expected_sha256: Option<String>,
        create_only: bool,
    },
    /// Apply a unified diff whose file names are relative to `path`.
    Patch { path: String, diff: String },
    /// Run a named command (never through a shell) in `cwd`.
    Run {
        command: NamedCommand,
        cwd: String,
        timeout: Duration,
    },
    /// Run raw shell text with `sh -c` in `cwd`, as admission classified it.
    Shell {
        command: String,
        cwd: String,
        timeout: Duration,
        verdict: ShellVerdict,
    },
    /// One HTTP request to a destination the grant names (`net.http`), as admission checked it.
    Http(crate::net::HttpCall),
    /// One call of a certified business tool (`tool.invoke`), as admission checked it.
    Tool(Box<crate::tool_call::ToolCall>),
    /// Documents of a context source, bound at admission to what the grant may read.
    Context(crate::context::ContextCall),
    /// One tool call forwarded to a configured MCP upstream (`mcp.call` on `SERVER/TOOL`).
    McpCall(McpCall),
}

/// An `mcp.call` as admission checked it: the upstream, the tool and the JSON arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpCall {
    pub server: String,
    pub tool: String,
    /// A JSON object's text, checked at admission (empty: no arguments).
    pub arguments_json: String,
}

/// How admission classified a `shell.exec` command under the grant's shell policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellVerdict {
    /// The categories the command crosses (`read`, `network`, ...).
    pub categories: Vec<String>,
    /// The deciding rule (`category:read`, `pattern:Bash(...)`, ...).
    pub rule: String,
    /// `allow`, or `approval_required` for a command run under an approved grant.
    pub effect: String,
}

/// A command: the grant authorizes `name`; `argv[0]` is the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCommand {
    pub name: String,
    pub argv: Vec<String>,
}

impl Operation {
    /// The operation's kind ([`trust_sdk::operation::Operation`]).
    pub fn kind(&self) -> Kind {
        match self {
            Operation::Read { .. } => Kind::FsRead,
            Operation::List { .. } => Kind::FsList,
            Operation::Search { .. } => Kind::FsSearch,
            Operation::Write { .. } => Kind::FsWrite,
            Operation::Patch { .. } => Kind::FsPatch,
            Operation::Run { .. } => Kind::ProcRun,
            Operation::Shell { .. } => Kind::ShellExec,
            Operation::Http(_) => Kind::NetHttp,
            Operation::Tool(_) => Kind::ToolInvoke,
            Operation::Context(_) => Kind::ContextRetrieve,
            Operation::McpCall(_) => Kind::McpCall,
        }
    }

    /// The operation's name as grants spell it.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Normalized resources this operation touches, each checked against the
    /// grant: the normalized path for file operations, every target file of
    /// the diff (normalized, under `path`) for a patch, the command name for a
    /// run.
    pub fn resources(&self) -> Result<Vec<String>, OperationError> {
        match self {
            Operation::Read { path, .. }
            | Operation::List { path, .. }
            | Operation::Search { path, .. }
            | Operation::Write { path, .. } => Ok(vec![normalize_relative(path)?]),
            Operation::Patch { path, diff } => {
                let base = normalize_relative(path)?;
                let files = patch::parse_diff(&base, diff)?;
                Ok(files.into_iter().map(|f| f.target).collect())
            }
            Operation::Run { command, .. } => {
                run::validate_command(command)?;
                Ok(vec![command.name.clone()])
            }
            // The grant's `shell.exec` scope bounds where the shell starts; the text itself
            // was decided by the grant's shell policy at admission.
            Operation::Shell { cwd, .. } => Ok(vec![normalize_relative(cwd)?]),
            // The grant's claim that names the destination (`host` or `host:port`).
            Operation::Http(call) => Ok(vec![call.permit.entry.clone()]),
            // The tool id: what a grant's `tool.invoke` scope names.
            Operation::Tool(call) => Ok(vec![call.tool_id.clone()]),
            // The source's name (checked: never a path).
            Operation::Context(call) => Ok(vec![call.source.clone()]),
            Operation::McpCall(call) => Ok(vec![trust_sdk::mcp_resource::resource(
                &call.server,
                &call.tool,
            )]),
        }
    }

    /// Numeric parameters the grant's limits are checked against.
    pub fn params(&self, limits: &OperationLimits) -> Vec<(&'static str, i64)> {
        match self {
            Operation::Read { length, .. } => {
                vec![(
                    "read_bytes",
                    to_i64(read::effective_length(*length, limits)),
                )]
            }
            Operation::List {
                max_depth,
                max_entries,
                ..
            } => vec![
                (
                    "list_entries",
                    i64::from(effective_u32(*max_entries, limits.max_list_entries)),
                ),
                (
                    "list_depth",
                    i64::from(effective_u32(*max_depth, limits.max_list_depth)),
                ),
            ],
            Operation::Search { max_matches, .. } => vec![(
                "search_matches",
                i64::from(effective_u32(*max_matches, limits.max_search_matches)),
            )],
            Operation::Write { content, .. } => {
                vec![("write_bytes", to_i64(content.len() as u64))]
            }
            Operation::Patch { diff, .. } => vec![("write_bytes", to_i64(diff.len() as u64))],
            Operation::Run { timeout, .. } | Operation::Shell { timeout, .. } => vec![
                (
                    "run_timeout_ms",
                    i64::try_from(run::effective_timeout(*timeout, limits).as_millis())
                        .unwrap_or(i64::MAX),
                ),
                ("output_bytes", to_i64(limits.max_output_bytes)),
            ],
            Operation::Http(_)
            | Operation::Tool(_)
            | Operation::Context(_)
            | Operation::McpCall(_) => Vec::new(),
        }
    }

    /// [`Self::params`] completed with 0 for every other limit name the grant vocabulary
    /// defines, so each of the grant's `check if param(NAME, $v), $v <= MAX` finds its fact.
    pub fn all_params(&self, limits: &OperationLimits) -> Vec<(&'static str, i64)> {
        let own = self.params(limits);
        trust_sdk::vocabulary::LIMIT_NAMES
            .iter()
            .map(|name| {
                let value = own
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .unwrap_or(0);
                (*name, value)
            })
            .collect()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `requested`, or `limit` when 0 was requested, never above `limit`.
pub(crate) fn effective_u32(requested: u32, limit: u32) -> u32 {
    if requested == 0 {
        limit
    } else {
        requested.min(limit)
    }
}

/// The executor's own ceilings; a grant may only narrow them.
#[derive(Debug, Clone)]
pub struct OperationLimits {
    pub max_read_bytes: u64,
    pub max_write_bytes: u64,
    pub max_list_entries: u32,
    pub max_list_depth: u32,
    pub max_search_matches: u32,
    pub max_search_file_bytes: u64,
    pub max_run_timeout: Duration,
    /// Per stream (stdout and stderr each).
    pub max_output_bytes: u64,
    /// Environment variables copied from the executor's environment into a
    /// run; everything else is cleared.
    pub env_allowlist: Vec<String>,
    /// Paths a walk (`fs.list`, `fs.search`) must skip entirely, neither
    /// opening, counting nor descending into them: the grant's deny rules.
    /// Skipping before reading keeps a search from being an oracle on them.
    pub hidden: std::sync::Arc<Vec<regex::Regex>>,
    /// Where every child process runs; `None` refuses every `proc.run` (never unconfined).
    pub sandbox: Option<std::sync::Arc<trust_sandbox::Sandbox>>,
    /// Caps of a child process tree (memory, processes, file size, open files, CPU).
    pub run_limits: trust_sandbox::ResourceLimits,
    /// Absolute paths a child may read beyond the system's (a toolchain outside `/usr`).
    pub run_read_only_paths: Vec<std::path::PathBuf>,
    /// Per grant: workspace prefixes a child may write (the grant's `fs.write`/`fs.patch`
    /// scopes); empty = the workspace is read-only to it.
    pub writable: std::sync::Arc<Vec<String>>,
    /// Per grant: globs a child must not see (the grant's deny rules and the sensitive class).
    pub hidden_globs: std::sync::Arc<Vec<String>>,
    /// Egress proxy, per grant: the hosts a child may reach through the proxy (the grant's
    /// `net.http` claims); empty = the child has no network at all.
    pub egress_hosts: std::sync::Arc<crate::egress_proxy::GrantedHosts>,
    /// Per execution: secrets injected into the child's environment (variable, value), from
    /// the grant's secret references (`secrets/exec_use.rs`).
    pub secret_env: std::sync::Arc<Vec<(String, crate::secrets::SecretValue)>>,
    /// `net.http`: the executor's `[http]` ceilings.
    pub http: crate::net::HttpLimits,
    /// `context.retrieve`: the document sources this executor guards (`context.rs`).
    pub context: std::sync::Arc<crate::context::ContextSources>,
    /// `mcp.call`: the MCP servers the executor fronts (`[[mcp_upstream]]`).
    pub mcp_upstreams: std::sync::Arc<crate::mcp_upstream::McpUpstreams>,
}

impl OperationLimits {
    /// Whether a walk must skip `rel`.
    pub fn is_hidden(&self, rel: &str) -> bool {
        self.hidden.iter().any(|r| r.is_match(rel))
    }
}

impl Default for OperationLimits {
    fn default() -> Self {
        OperationLimits {
            max_read_bytes: 1 << 20,
            max_write_bytes: 1 << 20,
            max_list_entries: 1000,
            max_list_depth: 8,
            max_search_matches: 200,
            max_search_file_bytes: 4 << 20,
            max_run_timeout: Duration::from_secs(120),
            max_output_bytes: 1 << 20,
            env_allowlist: ["PATH", "HOME", "LANG", "CARGO_HOME", "RUSTUP_HOME"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            hidden: std::sync::Arc::new(Vec::new()),
            sandbox: None,
            run_limits: trust_sandbox::ResourceLimits::default(),
            run_read_only_paths: Vec::new(),
            writable: std::sync::Arc::new(Vec::new()),
            hidden_globs: std::sync::Arc::new(Vec::new()),
            egress_hosts: std::sync::Arc::default(),
            secret_env: std::sync::Arc::new(Vec::new()),
            http: crate::net::HttpLimits::default(),
            context: std::sync::Arc::default(),
            mcp_upstreams: std::sync::Arc::default(),
        }
    }
}

/// Why an operation was refused or failed. Messages are lowercase, quote user
/// input in backticks and never contain the workspace's host path.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OperationError {
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath { path: String, reason: PathReason },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The kernel refused the resolution (`EXDEV`/`ELOOP` from `openat2`) or
    /// the target is a symbolic link.
    #[error("outside workspace: {0}")]
    OutsideWorkspace(String),
    #[error("hard link refused: {0}")]
    HardLink(String),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("patch rejected: {0}")]
    PatchRejected(String),
    #[error("i/o error: {0}")]
    Io(String),
    /// The sandbox could not be applied (or is not configured): the command did not run.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// A `net.http` request was refused or failed (a named `net-*` check).
    #[error("{0}")]
    Net(crate::net::NetRefusal),
    /// A `context.retrieve` could not run (`context.rs`).
    #[error("{0}")]
    Context(crate::context::retrieve::ContextError),
    /// An `mcp.call` could not be forwarded (unknown or unstartable upstream, no answer).
    #[error("{0}")]
    McpUpstream(crate::mcp_upstream::McpUpstreamError),
}

impl From<WorkspaceError> for OperationError {
    fn from(e: WorkspaceError) -> Self {
        use WorkspaceError as W;
        match e {
            W::InvalidPath { path, reason } => OperationError::InvalidPath { path, reason },
            W::InvalidInput(m) => OperationError::InvalidInput(m),
            W::NotFound(m) => OperationError::NotFound(m),
            W::OutsideWorkspace(m) => OperationError::OutsideWorkspace(m),
            W::HardLink(m) => OperationError::HardLink(m),
            W::PreconditionFailed(m) => OperationError::PreconditionFailed(m),
            W::TooLarge(m) => OperationError::TooLarge(m),
            W::Io(m) => OperationError::Io(m),
        }
    }
}

impl OperationError {
    /// A stable snake_case name of the variant (for status mapping and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            OperationError::InvalidPath { .. } => "invalid_path",
            OperationError::InvalidInput(_) => "invalid_input",
            OperationError::NotFound(_) => "not_found",
            OperationError::OutsideWorkspace(_) => "outside_workspace",
            OperationError::HardLink(_) => "hard_link",
            OperationError::PreconditionFailed(_) => "precondition_failed",
            OperationError::TooLarge(_) => "too_large",
            OperationError::PatchRejected(_) => "patch_rejected",
            OperationError::Io(_) => "io",
            OperationError::Sandbox(_) => "sandbox",
            OperationError::Net(_) => "net",
            OperationError::Context(_) => "context",
            OperationError::McpUpstream(_) => "mcp-upstream",
        }
    }
}

impl EntryKind {
    fn code(self) -> u8 {
        match self {
            EntryKind::File => 1,
            EntryKind::Directory => 2,
            EntryKind::Symlink => 3,
            EntryKind::Other => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub data: Vec<u8>,
    pub file_size: u64,
    /// More of the file remained after the returned data.
    pub truncated: bool,
    /// Hex SHA-256 of `data`.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Relative to the workspace root.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOutcome {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchMatch {
    /// Relative to the workspace root.
    pub path: String,
    /// 1-based.
    pub line_number: u64,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOutcome {
    pub matches: Vec<SearchMatch>,
    pub truncated: bool,
    pub files_scanned: u64,
    pub binary_files_skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub sha256: String,
    pub bytes_written: u64,
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedFile {
    /// Relative to the workspace root.
    pub path: String,
    /// Hex SHA-256 of the new content.
    pub sha256: String,
    pub hunks: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOutcome {
    pub files: Vec<PatchedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// -1 if the process did not exit normally.
    pub exit_code: i32,
    /// The terminating signal, 0 if none.
    pub signal: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub timed_out: bool,
    pub duration: Duration,
    /// The limit that killed the tree (`memory`, `cpu`, `file-size`, ...), if one did.
    pub killed_by: Option<String>,
    /// Limits the tree ran into without being killed (a refused fork, say).
    pub limits_hit: Vec<String>,
    /// What the kernel enforced for this run (the sandbox's report).
    pub sandbox: String,
    /// Egress proxy: every connection the child asked for (provenance lines), when its grant
    /// names hosts.
    pub egress: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Read(ReadOutcome),
    List(ListOutcome),
    Search(SearchOutcome),
    Write(WriteOutcome),
    Patch(PatchOutcome),
    Run(RunOutcome),
    Shell(ShellOutcome),
    Http(crate::net::HttpOutcome),
    Tool(crate::tool_call::ToolOutcome),
    Context(crate::context::ContextOutcome),
    McpCall(crate::mcp_upstream::McpCallOutcome),
}

/// A `shell.exec` run and how its command was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOutcome {
    pub run: RunOutcome,
    pub verdict: ShellVerdict,
}

/// A simple, stable, unambiguous binary encoding: fixed-width big-endian
/// integers and length-prefixed byte strings.
struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    fn new(tag: &str) -> Encoder {
        let mut e = Encoder { buf: Vec::new() };
        e.bytes(b"trust-authority/outcome/v1");
        e.bytes(tag.as_bytes());
        e
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
}

impl Outcome {
    /// The stable encoding that [`Outcome::digest`] hashes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e;
        match self {
            Outcome::Read(r) => {
                e = Encoder::new(Kind::FsRead.as_str());
                e.bytes(&r.data);
                e.u64(r.file_size);
                e.bool(r.truncated);
                e.str(&r.sha256);
            }
            Outcome::List(l) => {
                e = Encoder::new(Kind::FsList.as_str());
                e.u64(l.entries.len() as u64);
                for entry in &l.entries {
                    e.str(&entry.path);
                    e.buf.push(entry.kind.code());
                    e.u64(entry.size);
                }
                e.bool(l.truncated);
            }
            Outcome::Search(s) => {
                e = Encoder::new(Kind::FsSearch.as_str());
                e.u64(s.matches.len() as u64);
                for m in &s.matches {
                    e.str(&m.path);
                    e.u64(m.line_number);
                    e.str(&m.line);
                }
                e.bool(s.truncated);
                e.u64(s.files_scanned);
                e.u64(s.binary_files_skipped);
            }
            Outcome::Write(w) => {
                e = Encoder::new(Kind::FsWrite.as_str());
                e.str(&w.sha256);
                e.u64(w.bytes_written);
                e.bool(w.created);
            }
            Outcome::Patch(p) => {
                e = Encoder::new(Kind::FsPatch.as_str());
                e.u64(p.files.len() as u64);
                for f in &p.files {
                    e.str(&f.path);
                    e.str(&f.sha256);
                    e.u64(u64::from(f.hunks));
                }
            }
            Outcome::Shell(s) => {
                e = Encoder::new(Kind::ShellExec.as_str());
                e.u64(s.verdict.categories.len() as u64);
                for c in &s.verdict.categories {
                    e.str(c);
                }
                e.str(&s.verdict.rule);
                e.str(&s.verdict.effect);
                e.bytes(&Outcome::Run(s.run.clone()).encode());
            }
            Outcome::McpCall(m) => {
                e = Encoder::new(Kind::McpCall.as_str());
                e.str(&m.result_json);
                e.bool(m.is_error);
            }
            Outcome::Http(h) => {
                e = Encoder::new(Kind::NetHttp.as_str());
                e.u64(u64::from(h.status));
                e.u64(h.headers.len() as u64);
                for (name, value) in &h.headers {
                    e.str(name);
                    e.str(value);
                }
                e.bytes(&h.body);
                e.bool(h.truncated);
                e.str(&h.url);
                e.u64(h.redirects.len() as u64);
                for r in &h.redirects {
                    e.str(r);
                }
                e.str(&h.address);
            }
            Outcome::Tool(t) => {
                e = Encoder::new(Kind::ToolInvoke.as_str());
                e.str(&t.tool_id);
                e.u64(u64::from(t.version));
                e.str(&t.arguments_sha256);
                e.bytes(&Outcome::Http(t.http.clone()).encode());
            }
            Outcome::Context(c) => {
                e = Encoder::new(Kind::ContextRetrieve.as_str());
                e.str(&c.source);
                e.u64(c.documents.len() as u64);
                for d in &c.documents {
                    for label in [
                        &d.id,
                        &d.title,
                        &d.classification,
                        &d.owner,
                        &d.jurisdiction,
                        &d.date,
                    ] {
                        e.str(label);
                    }
                    e.u64(d.fields.len() as u64);
                    for (name, value) in &d.fields {
                        e.str(name);
                        e.str(value);
                    }
                    e.str(&d.content);
                    e.str(&d.sha256);
                }
                e.bool(c.truncated);
                e.u64(c.redactions.len() as u64);
                for r in &c.redactions {
                    e.str(&r.rule);
                    e.str(r.mode);
                    e.u64(r.count);
                }
                e.u64(c.unlabeled);
                e.u64(c.oversized);
            }
            Outcome::Run(r) => {
                e = Encoder::new(Kind::ProcRun.as_str());
                e.i64(i64::from(r.exit_code));
                e.i64(i64::from(r.signal));
                e.bytes(&r.stdout);
                e.bytes(&r.stderr);
                e.bool(r.stdout_truncated);
                e.bool(r.stderr_truncated);
                e.bool(r.timed_out);
                e.str(r.killed_by.as_deref().unwrap_or(""));
                e.u64(r.limits_hit.len() as u64);
                for hit in &r.limits_hit {
                    e.str(hit);
                }
                e.str(&r.sandbox);
                e.u64(u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX));
            }
        }
        e.buf
    }

    /// Hex SHA-256 of [`Outcome::encode`].
    pub fn digest(&self) -> String {
        sha256_hex(&self.encode())
    }

    /// Size in bytes of the result's stable encoding (what `digest` covers).
    pub fn size(&self) -> u64 {
        self.encode().len() as u64
    }
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Reads of at most this many bytes run on the calling (async) thread: opening (`openat2`,
/// `fstat`), a `pread` of this size and its SHA-256 take a few microseconds, less than handing
/// the work to the blocking pool and waking the caller again.
pub const INLINE_READ_BYTES: usize = 64 * 1024;

/// Runs `op` confined to `ws` under the executor's `limits`. (The grant's own
/// checks against [`Operation::resources`] and [`Operation::params`] happen
/// before this.) File operations run on the blocking thread pool, except a read of at most
/// [`INLINE_READ_BYTES`] (the file is opened here, and read here if the range is that small).
pub async fn execute(
    op: &Operation,
    ws: &Workspace,
    limits: &OperationLimits,
) -> Result<Outcome, OperationError> {
    match op {
        Operation::Run {
            command,
            cwd,
            timeout,
        } => {
            return run::run(ws, command, cwd, *timeout, limits)
                .await
                .map(Outcome::Run)
        }
        Operation::Shell {
            command,
            cwd,
            timeout,
            verdict,
        } => {
            let argv = vec!["sh".to_string(), "-c".to_string(), command.clone()];
            let named = NamedCommand {
                name: Kind::ShellExec.as_str().to_string(),
                argv,
            };
            return run::run(ws, &named, cwd, *timeout, limits)
                .await
                .map(|run| {
                    Outcome::Shell(ShellOutcome {
                        run,
                        verdict: verdict.clone(),
                    })
                });
        }
        Operation::Context(call) => {
            return crate::context::run::run(call, &limits.context, &limits.http)
                .await
                .map(Outcome::Context)
                .map_err(OperationError::Context);
        }
        Operation::McpCall(call) => {
            return limits
                .mcp_upstreams
                .call(
                    limits.sandbox.as_deref(),
                    &call.server,
                    &call.tool,
                    &call.arguments_json,
                )
                .await
                .map(Outcome::McpCall)
                .map_err(OperationError::McpUpstream)
        }
        Operation::Http(call) => {
            return crate::net::exchange(call, &limits.http)
                .await
                .map(Outcome::Http)
                .map_err(OperationError::Net)
        }
        Operation::Tool(call) => {
            return crate::net::exchange(&call.http, &call.limits(&limits.http))
                .await
                .map(|http| {
                    Outcome::Tool(crate::tool_call::ToolOutcome {
                        tool_id: call.tool_id.clone(),
                        version: call.version,
                        arguments_sha256: call.arguments_sha256.clone(),
                        http,
                    })
                })
                .map_err(OperationError::Net)
        }
        Operation::Read {
            path,
            offset,
            length,
        } => {
            let opened = read::open(ws, path, *offset, *length, limits)?;
            if opened.len() <= INLINE_READ_BYTES {
                return opened.finish().map(Outcome::Read);
            }
            return tokio::task::spawn_blocking(move || opened.finish())
                .await
                .map_err(|_| OperationError::Io("operation task failed".to_string()))?
                .map(Outcome::Read);
        }
        _ => {}
    }
    let op = op.clone();
    let ws = ws.clone();
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || execute_blocking(&op, &ws, &limits))
        .await
        .map_err(|_| OperationError::Io("operation task failed".to_string()))?
}

/// The file operations, synchronously.
fn execute_blocking(
    op: &Operation,
    ws: &Workspace,
    limits: &OperationLimits,
) -> Result<Outcome, OperationError> {
    match op {
        Operation::Read {
            path,
            offset,
            length,
        } => read::read(ws, path, *offset, *length, limits).map(Outcome::Read),
        Operation::List {
            path,
            max_depth,
            max_entries,
        } => list::list(ws, path, *max_depth, *max_entries, limits).map(Outcome::List),
        Operation::Search {
            path,
            pattern,
            regex,
            case_insensitive,
            max_matches,
        } => search::search(
            ws,
            path,
            &search::Query {
                pattern,
                regex: *regex,
                case_insensitive: *case_insensitive,
                max_matches: *max_matches,
            },
            limits,
        )
        .map(Outcome::Search),
        Operation::Write {
            path,
            content,
            expected_sha256,
            create_only,
        } => write::write(
            ws,
            path,
            content,
            expected_sha256.as_deref(),
            *create_only,
            limits,
        )
        .map(Outcome::Write),
        Operation::Patch { path, diff } => patch::patch(ws, path, diff, limits).map(Outcome::Patch),
        Operation::Run { .. } | Operation::Shell { .. } => Err(OperationError::InvalidInput(
            "a child process cannot run on the blocking pool".to_string(),
        )),
        Operation::Http(_) | Operation::Tool(_) => Err(OperationError::InvalidInput(
            "an HTTP exchange cannot run on the blocking pool".to_string(),
        )),
        Operation::Context(call) => crate::context::retrieve::retrieve(call, &limits.context)
            .map(Outcome::Context)
            .map_err(OperationError::Context),
        Operation::McpCall(_) => Err(OperationError::InvalidInput(
            "mcp.call cannot run on the blocking pool".to_string(),
        )),
    }
}
