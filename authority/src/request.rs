//! What an (already authenticated) agent asks the authority for.
//!
//! This module is transport-free: the gRPC layer converts its protobuf messages into these
//! types before calling [`crate::policy::evaluate`].

use std::fmt;
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
    /// Task fields the grant carries (`task_field`), for argument constraints of `tool.invoke`
    /// that refer to the task (`invoice_id == task.invoice`).
    #[serde(default)]
    pub task_fields: std::collections::BTreeMap<String, String>,
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

/// The operations the authority knows about: the SDK's one [`Operation`] type.
pub use trust_sdk::operation::{Operation, UnknownOperation};
