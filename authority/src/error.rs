//! The authority's one error type; `rpc/status.rs` chooses the gRPC status of each variant.

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
    /// An id the caller chose is already taken by something else.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The request is well formed but the state does not allow it (a tool registry
    /// transition that is not draft → certified → revoked).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The registry could not durably record something; nothing was returned.
    #[error("storage: {0}")]
    Storage(String),
    #[error("configuration: {0}")]
    Config(String),
    /// A failure inside the authority: logged, never described to the client.
    #[error("internal: {0}")]
    Internal(#[from] InternalError),
    /// The server is stopping: open streams and long polls end.
    #[error("the authority is shutting down")]
    ShuttingDown,
    /// A watcher read updates more slowly than they came and missed some.
    #[error("watcher fell behind; watch again")]
    FellBehind,
}

/// What failed inside the authority (the detail that is logged with a correlation id).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum InternalError {
    #[error("{0} lock poisoned")]
    Poisoned(&'static str),
    #[error("serializing {what}: {detail}")]
    Serialize { what: &'static str, detail: String },
    #[error("minting failed: {0}")]
    Minting(String),
    /// Something the authority itself guarantees did not hold.
    #[error("{0}")]
    Invariant(&'static str),
    /// A blocking worker panicked or was cancelled.
    #[error("worker failed: {0}")]
    Worker(String),
    #[error("sdk: {0}")]
    Sdk(#[source] trust_sdk::SdkError),
    #[error("server: {0}")]
    Server(String),
}

impl From<sled::Error> for AuthorityError {
    fn from(e: sled::Error) -> Self {
        AuthorityError::Storage(e.to_string())
    }
}

impl From<trust_sdk::SdkError> for AuthorityError {
    fn from(error: trust_sdk::SdkError) -> Self {
        use trust_sdk::SdkError as E;
        match error {
            E::BadSignature(m) | E::Stale(m) => AuthorityError::Unauthenticated(m),
            E::InvalidRequest(m) | E::InvalidKey(m) => AuthorityError::InvalidArgument(m),
            other => AuthorityError::Internal(InternalError::Sdk(other)),
        }
    }
}

/// Runs blocking work (registry writes wait for a flush) off the async workers; a worker that
/// dies is an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthorityError> + Send + 'static,
) -> Result<T, AuthorityError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| InternalError::Worker(e.to_string()))?
}
