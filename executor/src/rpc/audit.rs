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
        let role = Role {
            prefix: "auditor:",
            name: "an auditor",
            keys: &self.auditors,
            replay: &self.replay,
        };
        authenticate_as(&role, rpc, request, freshness, now_ms)
    }
}

/// An operator role whose signed requests the executor takes: signer ids `PREFIX<name>`,
/// their keys, and the replay guard its requests share.
pub(super) struct Role<'a> {
    pub prefix: &'static str,
    /// For refusals: "`id` is not NAME".
    pub name: &'static str,
    pub keys: &'a HashMap<String, ed25519_dalek::VerifyingKey>,
    pub replay: &'a ReplayGuard,
}

/// The verified body of a signed request by one of `role`'s keys for `rpc` (signature, then
/// replay and freshness), or why it is refused.
pub(super) fn authenticate_as<M: prost::Message + Default>(
    role: &Role<'_>,
    rpc: &str,
    request: &SignedRequest,
    freshness: impl Fn(&M) -> Option<Freshness>,
    now_ms: i64,
) -> Result<M, Status> {
    let name = request
        .signer_id
        .strip_prefix(role.prefix)
        .unwrap_or(&request.signer_id);
    let key = role.keys.get(name).ok_or_else(|| {
        status::unauthenticated(format!("`{}` is not {}", request.signer_id, role.name))
    })?;
    let body: M =
        signed::verify(rpc, request, key).map_err(|e| status::unauthenticated(e.to_string()))?;
    role.replay
        .admit(&request.signer_id, freshness(&body).as_ref(), now_ms)
        .map_err(|e| status::unauthenticated(e.to_string()))?;
    Ok(body)
}
