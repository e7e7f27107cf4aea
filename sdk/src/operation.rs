//! The operations a grant can name: one type with their wire names and properties.
//!
//! Every other part of the system (profiles and policy at the authority, the executor's
//! admission and provenance, the command line) spells operations through [`Operation`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The wire names of the read-only operations ([`Operation::is_read_only`]), for code that
/// holds a name rather than an [`Operation`]; a test keeps the two in step.
pub const READ_ONLY_OPERATIONS: &[&str] = &["fs.read", "fs.list", "fs.search", "context.retrieve"];

/// An operation as grants, profiles and provenance name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    /// `fs.read`: read a file.
    FsRead,
    /// `fs.list`: list a directory.
    FsList,
    /// `fs.search`: search file contents.
    FsSearch,
    /// `fs.write`: create or overwrite a file.
    FsWrite,
    /// `fs.patch`: apply an edit to an existing file.
    FsPatch,
    /// `proc.run`: run a command defined by the profile.
    ProcRun,
    /// `net.http`: make an HTTP request to a host the grant names (`host` or `host:port`).
    NetHttp,
    /// `shell.exec`: run raw shell text (`sh -c`), classified by [`crate::shell`] and sandboxed.
    ShellExec,
    /// `tool.invoke`: call a certified business tool of the executor's catalog (resource: the
    /// tool id), its arguments bounded by the grant's argument constraints.
    ToolInvoke,
    /// `context.retrieve`: read documents of a context source the executor guards, filtered
    /// and redacted by the grant (`crate::vocabulary::context`).
    ContextRetrieve,
    /// `mcp.call`: call a tool of an MCP server the executor fronts; the resource is
    /// `SERVER/TOOL` (see [`crate::mcp_resource`]).
    McpCall,
}

impl Operation {
    /// Every known operation, in a stable order.
    pub const ALL: [Operation; 11] = [
        Operation::FsRead,
        Operation::FsList,
        Operation::FsSearch,
        Operation::FsWrite,
        Operation::FsPatch,
        Operation::ProcRun,
        Operation::NetHttp,
        Operation::ShellExec,
        Operation::ToolInvoke,
        Operation::ContextRetrieve,
        Operation::McpCall,
    ];

    /// The operations an executor runs today.
    pub const EXECUTED: [Operation; 11] = [
        Operation::FsRead,
        Operation::FsList,
        Operation::FsSearch,
        Operation::FsWrite,
        Operation::FsPatch,
        Operation::ProcRun,
        Operation::ShellExec,
        Operation::NetHttp,
        Operation::ToolInvoke,
        Operation::ContextRetrieve,
        Operation::McpCall,
    ];

    /// The wire name of the operation, e.g. `"fs.read"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::FsRead => "fs.read",
            Operation::FsList => "fs.list",
            Operation::FsSearch => "fs.search",
            Operation::FsWrite => "fs.write",
            Operation::FsPatch => "fs.patch",
            Operation::ProcRun => "proc.run",
            Operation::NetHttp => "net.http",
            Operation::ShellExec => "shell.exec",
            Operation::ToolInvoke => "tool.invoke",
            Operation::ContextRetrieve => "context.retrieve",
            Operation::McpCall => "mcp.call",
        }
    }

    /// Parses a wire name; `None` for an unknown operation.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operation acts on workspace paths (`fs.*`).
    pub fn is_fs(self) -> bool {
        matches!(
            self,
            Operation::FsRead
                | Operation::FsList
                | Operation::FsSearch
                | Operation::FsWrite
                | Operation::FsPatch
        )
    }

    /// Whether the operation starts a child process in the sandbox (`proc.run`, `shell.exec`).
    pub fn runs_child(self) -> bool {
        matches!(self, Operation::ProcRun | Operation::ShellExec)
    }

    /// Whether the operation writes workspace files (`fs.write`, `fs.patch`).
    pub fn writes_files(self) -> bool {
        matches!(self, Operation::FsWrite | Operation::FsPatch)
    }

    /// Whether the operation changes nothing: provenance gives it one `read_only` record after
    /// it ran instead of an intent record before and an outcome record after.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            Operation::FsRead
                | Operation::FsList
                | Operation::FsSearch
                | Operation::ContextRetrieve
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when parsing an unknown operation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation `{0}`")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::parse(s).ok_or_else(|| UnknownOperation(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert_eq!(Operation::parse("fs.delete"), None);
        assert!("FS.READ".parse::<Operation>().is_err());
        assert!(Operation::FsPatch.is_fs());
        assert!(!Operation::NetHttp.is_fs());
        let read_only: Vec<_> = Operation::ALL
            .into_iter()
            .filter(|o| o.is_read_only())
            .map(Operation::as_str)
            .collect();
        assert_eq!(read_only, READ_ONLY_OPERATIONS);
    }
}
