//! The SDK's one error type.

/// Everything the SDK can refuse or fail at.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SdkError {
    #[error("key file `{path}`: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
    #[error("attenuation would widen the grant: {0}")]
    Widening(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("signature check failed: {0}")]
    BadSignature(String),
    #[error("request is stale: {0}")]
    Stale(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("{code}: {message}")]
    Rpc { code: String, message: String },
}

impl From<tonic::Status> for SdkError {
    fn from(status: tonic::Status) -> Self {
        SdkError::Rpc {
            code: format!("{:?}", status.code()),
            message: status.message().to_string(),
        }
    }
}

impl From<tonic::transport::Error> for SdkError {
    /// Keeps the whole cause chain: tonic's own message is only "transport error", and the
    /// reason (a certificate from an unknown issuer, a name mismatch) is in its sources.
    fn from(error: tonic::transport::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        SdkError::Transport(message)
    }
}
