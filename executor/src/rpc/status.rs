//! The one place that chooses gRPC statuses for the executor.
//!
//! A refusal names its check and says why; that is what the caller must see. An internal
//! failure says nothing about its cause on the wire: the client gets a generic message with a
//! correlation id, and the detail is logged once under the same id.

use tonic::{Code, Status};

use crate::error::{Refusal, RefusalKind};

/// The gRPC code for a refusal kind.
pub fn code(kind: RefusalKind) -> Code {
    match kind {
        RefusalKind::Unauthenticated => Code::Unauthenticated,
        RefusalKind::PermissionDenied => Code::PermissionDenied,
        RefusalKind::InvalidArgument => Code::InvalidArgument,
        RefusalKind::Unavailable => Code::Unavailable,
        RefusalKind::NotFound => Code::NotFound,
        RefusalKind::FailedPrecondition => Code::FailedPrecondition,
        RefusalKind::Internal => Code::Internal,
        RefusalKind::ResourceExhausted => Code::ResourceExhausted,
    }
}

/// The status a refusal is sent as. An internal failure is logged with a fresh correlation id
/// and answered with that id only.
pub fn refused(refusal: Refusal) -> Status {
    match refusal.kind {
        RefusalKind::Internal => internal(refusal.check, &refusal.message),
        kind => Status::new(code(kind), refusal.to_string()),
    }
}

/// A generic answer for a failure whose detail stays in the log.
pub fn internal(what: &str, detail: &dyn std::fmt::Display) -> Status {
    let id = uuid::Uuid::now_v7();
    tracing::error!(correlation_id = %id, what, detail = %detail, "internal error");
    Status::new(
        Code::Internal,
        format!("internal error (correlation id {id})"),
    )
}

/// A generic `UNAVAILABLE` for a store that cannot serve now; the detail stays in the log.
pub fn unavailable(what: &str, detail: &dyn std::fmt::Display) -> Status {
    let id = uuid::Uuid::now_v7();
    tracing::error!(correlation_id = %id, what, detail = %detail, "unavailable");
    Status::new(
        Code::Unavailable,
        format!("{what} is not available now (correlation id {id})"),
    )
}

/// The status of a failed secret operation (a message never carries a value).
pub fn secret(e: crate::secrets::SecretError) -> Status {
    use crate::secrets::SecretError as E;
    match e {
        E::Invalid(_) => Status::new(Code::InvalidArgument, e.to_string()),
        E::Unknown(_) => Status::new(Code::NotFound, e.to_string()),
        E::NotConfigured | E::Key(_) => Status::new(Code::FailedPrecondition, e.to_string()),
        E::Undecryptable(_) => Status::new(Code::DataLoss, e.to_string()),
        E::Store(_) => unavailable("the secret store", &e),
    }
}

/// A caller that could not be authenticated.
pub fn unauthenticated(message: impl Into<String>) -> Status {
    Status::new(Code::Unauthenticated, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_code_names_match_the_codes_sent() {
        for kind in [
            RefusalKind::Unauthenticated,
            RefusalKind::PermissionDenied,
            RefusalKind::InvalidArgument,
            RefusalKind::Unavailable,
            RefusalKind::NotFound,
            RefusalKind::FailedPrecondition,
            RefusalKind::Internal,
            RefusalKind::ResourceExhausted,
        ] {
            assert_eq!(format!("{:?}", code(kind)), kind.code_name());
        }
    }

    #[test]
    fn internal_detail_never_reaches_the_client() {
        let status = refused(Refusal::new(
            RefusalKind::Internal,
            "operation",
            "i/o error: /srv/data/secret-path: input/output error",
        ));
        assert_eq!(status.code(), Code::Internal);
        assert!(
            !status.message().contains("secret-path"),
            "{}",
            status.message()
        );
        assert!(status
            .message()
            .starts_with("internal error (correlation id "));
    }
}
