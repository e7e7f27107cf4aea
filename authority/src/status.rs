//! The one place that chooses gRPC status codes for authority errors.
//!
//! Internal detail (storage paths, library errors) is logged, never sent to the client.

use tonic::{Code, Status};

use crate::error::AuthorityError;

impl From<AuthorityError> for Status {
    fn from(error: AuthorityError) -> Self {
        match error {
            AuthorityError::Unauthenticated(m) => Status::new(Code::Unauthenticated, m),
            AuthorityError::InvalidArgument(m) => Status::new(Code::InvalidArgument, m),
            AuthorityError::PermissionDenied(m) => Status::new(Code::PermissionDenied, m),
            AuthorityError::NotFound(m) => Status::new(Code::NotFound, m),
            AuthorityError::Storage(detail) => {
                tracing::error!(%detail, "registry write failed");
                Status::new(
                    Code::Unavailable,
                    "the registry is not writable; nothing was issued",
                )
            }
            AuthorityError::Config(detail) | AuthorityError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}

impl From<trust_sdk::SdkError> for AuthorityError {
    fn from(error: trust_sdk::SdkError) -> Self {
        use trust_sdk::SdkError as E;
        match error {
            E::BadSignature(m) | E::Stale(m) => AuthorityError::Unauthenticated(m),
            E::InvalidRequest(m) | E::InvalidKey(m) => AuthorityError::InvalidArgument(m),
            other => AuthorityError::Internal(other.to_string()),
        }
    }
}
