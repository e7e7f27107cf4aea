//! The one place that chooses gRPC status codes for executor refusals.

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
    }
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        Status::new(code(refusal.kind), refusal.to_string())
    }
}
