//! The one place that chooses gRPC statuses for authority errors.
//!
//! Refusals carry their message; internal detail (storage paths, library errors) is logged
//! with a fresh correlation id, and the client gets a generic message naming that id.

use tonic::{Code, Status};

use crate::error::AuthorityError;

/// A correlation id for one internal failure: the same id is logged and sent.
fn correlation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl From<AuthorityError> for Status {
    fn from(error: AuthorityError) -> Self {
        match error {
            AuthorityError::Unauthenticated(m) => Status::new(Code::Unauthenticated, m),
            AuthorityError::InvalidArgument(m) => Status::new(Code::InvalidArgument, m),
            AuthorityError::PermissionDenied(m) => Status::new(Code::PermissionDenied, m),
            AuthorityError::NotFound(m) => Status::new(Code::NotFound, m),
            AuthorityError::AlreadyExists(m) => Status::new(Code::AlreadyExists, m),
            AuthorityError::FailedPrecondition(m) => Status::new(Code::FailedPrecondition, m),
            AuthorityError::ShuttingDown => {
                Status::new(Code::Unavailable, "the authority is shutting down")
            }
            AuthorityError::FellBehind => {
                Status::new(Code::DataLoss, "watcher fell behind; watch again")
            }
            AuthorityError::Storage(detail) => {
                let id = correlation_id();
                tracing::error!(correlation_id = %id, %detail, "registry write failed");
                Status::new(
                    Code::Unavailable,
                    format!(
                        "the registry is not writable; nothing was issued (correlation id {id})"
                    ),
                )
            }
            AuthorityError::Config(detail) => internal(&detail),
            AuthorityError::Internal(error) => internal(&error.to_string()),
        }
    }
}

fn internal(detail: &str) -> Status {
    let id = correlation_id();
    tracing::error!(correlation_id = %id, %detail, "internal error");
    Status::new(
        Code::Internal,
        format!("internal error (correlation id {id})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InternalError;

    #[test]
    fn refusals_keep_their_code_and_message() {
        for (error, code) in [
            (
                AuthorityError::Unauthenticated("m".into()),
                Code::Unauthenticated,
            ),
            (
                AuthorityError::InvalidArgument("m".into()),
                Code::InvalidArgument,
            ),
            (
                AuthorityError::PermissionDenied("m".into()),
                Code::PermissionDenied,
            ),
            (AuthorityError::NotFound("m".into()), Code::NotFound),
            (
                AuthorityError::AlreadyExists("m".into()),
                Code::AlreadyExists,
            ),
        ] {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, "m"));
        }
        assert_eq!(
            Status::from(AuthorityError::ShuttingDown).code(),
            Code::Unavailable
        );
        assert_eq!(
            Status::from(AuthorityError::FellBehind).code(),
            Code::DataLoss
        );
    }

    #[test]
    fn internal_detail_is_not_sent() {
        let secret = "/var/lib/authority/keys: errno 13";
        for error in [
            AuthorityError::Internal(InternalError::Serialize {
                what: "grant",
                detail: secret.into(),
            }),
            AuthorityError::Config(secret.into()),
            AuthorityError::Storage(secret.into()),
        ] {
            let status = Status::from(error);
            assert!(!status.message().contains(secret), "{status:?}");
            assert!(status.message().contains("(correlation id "), "{status:?}");
        }
    }
}
