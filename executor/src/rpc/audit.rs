//! Auditors' signed requests: who may export and query provenance, and whether this request
//! is theirs and fresh.

use std::collections::HashMap;

use tonic::Status;
use trust_proto::common::v1::{Freshness, SignedRequest};
use trust_sdk::signed::{self, ReplayGuard};

use super::status;

/// The configured auditors and the replay guard their requests pass.
pub struct AuditDesk {
    pub auditors: HashMap<String, ed25519_dalek::VerifyingKey>,
    pub replay: ReplayGuard,
}

impl AuditDesk {
    /// The verified body of an auditor's signed request for `rpc`, or why it is refused.
    pub fn authenticate<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<Freshness>,
        now_ms: i64,
    ) -> Result<M, Status> {
        let name = request
            .signer_id
            .strip_prefix("auditor:")
            .unwrap_or(&request.signer_id);
        let key = self.auditors.get(name).ok_or_else(|| {
            status::unauthenticated(format!("`{}` is not an auditor", request.signer_id))
        })?;
        let body: M = signed::verify(rpc, request, key)
            .map_err(|e| status::unauthenticated(e.to_string()))?;
        self.replay
            .admit(&request.signer_id, freshness(&body).as_ref(), now_ms)
            .map_err(|e| status::unauthenticated(e.to_string()))?;
        Ok(body)
    }
}
