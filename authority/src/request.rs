//! What an (already authenticated) agent asks the authority for.
//!
//! This module is transport-free: the gRPC layer converts its protobuf messages into these
//! types before calling [`crate::policy::evaluate`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::AuthorityError;

/// A request for a short-lived grant, made by one agent on behalf of one user, for one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    /// The authenticated agent making the request.
    pub agent_id: String,
    /// The user on whose behalf the agent acts.
    pub user: String,
    /// The workspace the grant is for; selects the profile.
    pub workspace: String,
    /// The task identifier (e.g. an issue key), echoed in reasons and audit records.
    pub task: String,
    /// A free-text purpose, for the audit trail.
    pub purpose: String,
    /// Exactly what is asked for; the grant never holds more.
    pub scopes: Vec<Scope>,
    /// Requested lifetime; `None` means the profile's default TTL.
    pub ttl: Option<Duration>,
}

/// Longest accepted identifier (agent, user, workspace, task).
pub const MAX_ID: usize = 256;

/// Refuses a field longer than `max` bytes or holding a NUL byte.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), AuthorityError> {
    if value.len() > max {
        return Err(AuthorityError::InvalidArgument(format!(
            "`{field}` is longer than {max} bytes"
        )));
    }
    if value.chars().any(|c| c == '\0') {
        return Err(AuthorityError::InvalidArgument(format!(
            "`{field}` contains a NUL byte"
        )));
    }
    Ok(())
}

/// One requested capability: an operation on a resource.
///
/// `operation` is one of the strings of [`Operation`]; anything else is unknown and denied.
/// `resource` is, for `fs.*`, a workspace-relative path or prefix (`""` = whole workspace,
/// `"src/"`, `"src/main.rs"`); for `proc.run`, the name of a command defined by the profile;
/// for `net.http`, a host name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The operation, e.g. `"fs.read"`.
    pub operation: String,
    /// The resource the operation applies to.
    pub resource: String,
}

impl Scope {
    /// Builds a scope from an operation and a resource.
    pub fn new(operation: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            operation: operation.into(),
            resource: resource.into(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on `{}`", self.operation, self.resource)
    }
}

/// The operations the authority knows about. Anything else is unknown (and denied).
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
    /// `net.http`: make an HTTP request to a host.
    NetHttp,
}

impl Operation {
    /// Every known operation, in a stable order.
    pub const ALL: [Operation; 7] = [
        Operation::FsRead,
        Operation::FsList,
        Operation::FsSearch,
        Operation::FsWrite,
        Operation::FsPatch,
        Operation::ProcRun,
        Operation::NetHttp,
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
    }
}
