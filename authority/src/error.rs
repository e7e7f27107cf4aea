//! The authority's one error type; `status.rs` maps it to gRPC codes.

/// Why the authority refused or failed a call.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthorityError {
    /// Bad, unknown, stale or replayed signer.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The registry could not durably record something; nothing was returned.
    #[error("storage: {0}")]
    Storage(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sled::Error> for AuthorityError {
    fn from(e: sled::Error) -> Self {
        AuthorityError::Storage(e.to_string())
    }
}
