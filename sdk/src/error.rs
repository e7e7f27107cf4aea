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
    fn from(error: tonic::transport::Error) -> Self {
        SdkError::Transport(error.to_string())
    }
}
