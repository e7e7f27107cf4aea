//! The executor's refusal type: which admission check failed, and how to say it on the wire.

/// The class of a refusal; `status.rs` maps each to exactly one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Bad, forged, expired, revoked or stolen grant, or a bad holder proof.
    Unauthenticated,
    /// A valid grant that does not cover this operation, resource or parameter.
    PermissionDenied,
    /// Malformed or oversized input.
    InvalidArgument,
    /// Provenance or revocation state cannot be vouched for: fail closed.
    Unavailable,
    /// The operation was admitted but its target does not exist.
    NotFound,
    /// The operation was admitted but a precondition failed (digest, patch did not apply).
    FailedPrecondition,
    /// The operation failed for a reason the caller cannot fix.
    Internal,
    /// The executor is at its admission capacity: retry shortly.
    ResourceExhausted,
}

impl RefusalKind {
    /// The name of the gRPC code this kind maps to, as provenance records it (`rpc::status`
    /// chooses the code itself; a test keeps the two in step).
    pub fn code_name(self) -> &'static str {
        match self {
            RefusalKind::Unauthenticated => "Unauthenticated",
            RefusalKind::PermissionDenied => "PermissionDenied",
            RefusalKind::InvalidArgument => "InvalidArgument",
            RefusalKind::Unavailable => "Unavailable",
            RefusalKind::NotFound => "NotFound",
            RefusalKind::FailedPrecondition => "FailedPrecondition",
            RefusalKind::Internal => "Internal",
            RefusalKind::ResourceExhausted => "ResourceExhausted",
        }
    }
}

/// A refused or failed request, naming the check that decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    /// Short stable name of the check, such as `holder-proof` or `revocation`.
    pub check: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, check: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            check,
            message: message.into(),
        }
    }
    pub fn unauthenticated(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Unauthenticated, check, message)
    }
    pub fn denied(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::PermissionDenied, check, message)
    }
    pub fn invalid(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::InvalidArgument, check, message)
    }
    pub fn unavailable(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::Unavailable, check, message)
    }
    pub fn exhausted(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(RefusalKind::ResourceExhausted, check, message)
    }
}

/// Errors that stop the executor from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("provenance: {0}")]
    Provenance(String),
    #[error("authority: {0}")]
    Authority(String),
}
