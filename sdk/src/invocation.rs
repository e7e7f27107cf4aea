//! An invocation as an executor reads it: decoded from the signed bytes into domain types.
//!
//! The holder proof covers the invocation's exact bytes, so the executor keeps the bytes and
//! decodes them once with [`decode`]. What comes out names no generated type: the requested
//! operation ([`Requested`]), its redacted parameters as provenance records them and their
//! digest ([`crate::parameters`]), computed once here.

use prost::Message;
use serde_json::Value;
use trust_proto::executor::v1 as pb;

use crate::operation::Operation;

/// One decoded invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub request_id: String,
    pub timestamp_ms: i64,
    pub nonce: Vec<u8>,
    pub requested: Requested,
    /// The parameters as provenance records them (contents replaced by size and digest).
    pub parameters: Value,
    /// Hex SHA-256 of the canonical JSON of `parameters`: what an approval binds.
    pub parameters_digest: String,
}

/// The operation an invocation asks for, with its parameters as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Read {
        path: String,
        offset: u64,
        length: u64,
    },
    List {
        path: String,
        max_depth: u32,
        max_entries: u32,
    },
    Search {
        path: String,
        pattern: String,
        regex: bool,
        case_insensitive: bool,
        max_matches: u32,
    },
    Write {
        path: String,
        content: Vec<u8>,
        /// Empty when no precondition was given.
        expected_sha256: String,
        create_only: bool,
    },
    Patch {
        path: String,
        diff: String,
    },
    /// A command named by the grant: its argv comes from the grant, never from here.
    Run {
        command: String,
        cwd: String,
        timeout_ms: u32,
    },
    /// Raw shell text for `shell.exec`: classified at admission against the grant's policy.
    Shell {
        command: String,
        cwd: String,
        timeout_ms: u32,
    },
    /// One HTTP request for `net.http`: checked against the grant's destinations at admission.
    Http(HttpRequested),
    /// One tool call for `mcp.call`, forwarded to the upstream MCP server `server`.
    McpCall {
        server: String,
        tool: String,
        /// The arguments as sent: a JSON object's text (empty: none).
        arguments_json: String,
    },
    /// One call of a business tool for `tool.invoke`: `arguments_json` as sent (a JSON object).
    ToolInvoke {
        tool_id: String,
        arguments_json: String,
        tool_version: u32,
    },
    /// Documents of a context source for `context.retrieve`, filtered and redacted by the grant.
    Context(ContextRequested),
}

/// The parameters of a `context.retrieve` request, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextRequested {
    pub source: String,
    pub query: String,
    pub classifications: Vec<String>,
    pub jurisdictions: Vec<String>,
    /// `YYYY-MM-DD` or empty.
    pub date_from: String,
    pub date_to: String,
    pub max_documents: u32,
    pub max_bytes: u64,
}

/// The parameters of a `net.http` request, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequested {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
    pub max_response_bytes: u64,
}

impl Requested {
    /// The operation's kind.
    pub fn operation(&self) -> Operation {
        match self {
            Requested::Read { .. } => Operation::FsRead,
            Requested::List { .. } => Operation::FsList,
            Requested::Search { .. } => Operation::FsSearch,
            Requested::Write { .. } => Operation::FsWrite,
            Requested::Patch { .. } => Operation::FsPatch,
            Requested::Run { .. } => Operation::ProcRun,
            Requested::Shell { .. } => Operation::ShellExec,
            Requested::Http(_) => Operation::NetHttp,
            Requested::ToolInvoke { .. } => Operation::ToolInvoke,
            Requested::Context(_) => Operation::ContextRetrieve,
            Requested::McpCall { .. } => Operation::McpCall,
        }
    }
}

/// Why an invocation's bytes are not an invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    #[error("invocation does not decode: {0}")]
    Decode(String),
    #[error("no operation given")]
    NoOperation,
}

/// Partly decoded: what is known before the operation is examined (for the record of a
/// refusal), or the error.
pub struct Decoded {
    pub request_id: String,
    pub result: Result<Invocation, InvocationError>,
}

/// Decodes the signed invocation bytes.
pub fn decode(bytes: &[u8]) -> Decoded {
    let wire = match pb::Invocation::decode(bytes) {
        Ok(w) => w,
        Err(e) => {
            return Decoded {
                request_id: String::new(),
                result: Err(InvocationError::Decode(e.to_string())),
            }
        }
    };
    let request_id = wire.request_id.clone();
    let Some(op) = wire.operation else {
        return Decoded {
            request_id,
            result: Err(InvocationError::NoOperation),
        };
    };
    let parameters = crate::parameters::redacted(&op);
    let parameters_digest = crate::provenance::parameters_digest(&parameters);
    Decoded {
        request_id,
        result: Ok(Invocation {
            request_id: wire.request_id,
            timestamp_ms: wire.timestamp_ms,
            nonce: wire.nonce,
            requested: requested(op),
            parameters,
            parameters_digest,
        }),
    }
}

fn requested(op: pb::invocation::Operation) -> Requested {
    use pb::invocation::Operation as W;
    match op {
        W::Read(r) => Requested::Read {
            path: r.path,
            offset: r.offset,
            length: r.length,
        },
        W::List(l) => Requested::List {
            path: l.path,
            max_depth: l.max_depth,
            max_entries: l.max_entries,
        },
        W::Search(s) => Requested::Search {
            path: s.path,
            pattern: s.pattern,
            regex: s.regex,
            case_insensitive: s.case_insensitive,
            max_matches: s.max_matches,
        },
        W::Write(w) => Requested::Write {
            path: w.path,
            content: w.content,
            expected_sha256: w.expected_sha256,
            create_only: w.create_only,
        },
        W::Patch(p) => Requested::Patch {
            path: p.path,
            diff: p.diff,
        },
        W::Run(r) => Requested::Run {
            command: r.command,
            cwd: r.cwd,
            timeout_ms: r.timeout_ms,
        },
        W::Shell(r) => Requested::Shell {
            command: r.command,
            cwd: r.cwd,
            timeout_ms: r.timeout_ms,
        },
        W::Http(r) => Requested::Http(HttpRequested {
            method: r.method,
            url: r.url,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
            timeout_ms: r.timeout_ms,
            max_response_bytes: r.max_response_bytes,
        }),
        W::ToolInvoke(t) => Requested::ToolInvoke {
            tool_id: t.tool_id,
            arguments_json: t.arguments_json,
            tool_version: t.tool_version,
        },
        W::ContextRetrieve(r) => Requested::Context(ContextRequested {
            source: r.source,
            query: r.query,
            classifications: r.classifications,
            jurisdictions: r.jurisdictions,
            date_from: r.date_from,
            date_to: r.date_to,
            max_documents: r.max_documents,
            max_bytes: r.max_bytes,
        }),
        W::McpCall(c) => Requested::McpCall {
            server: c.server,
            tool: c.tool,
            arguments_json: c.arguments_json,
        },
    }
}
