//! Signed requests: every signed RPC is authenticated here, in one way — the signer's key
//! for the role, the signature over the bytes received, then the replay and clock check (in
//! the role's replay cache, with a quota per signer).

use tonic::Request;
use trust_proto::authority::v1 as pb;
use trust_proto::common::v1::{Freshness, SignedRequest};
use trust_sdk::signed;

use crate::error::AuthorityError;
use crate::principals::{Caller, Principals, Role};
use crate::replay_caches::ReplayCaches;

/// A signed body: it carries its freshness, and may name the agent it claims to come from.
pub(super) trait SignedBody: prost::Message + Default {
    fn freshness(&self) -> Option<&Freshness>;

    /// The agent the body says it is from (checked against the signer).
    fn claimed_agent(&self) -> Option<&str> {
        None
    }
}

macro_rules! signed_bodies {
    ($($body:ty),* $(,)?) => {
        $(impl SignedBody for $body {
            fn freshness(&self) -> Option<&Freshness> {
                self.freshness.as_ref()
            }
        })*
    };
}

signed_bodies!(
    pb::DeriveGrantBody,
    pb::WatchApprovalsBody,
    pb::ListApprovalsBody,
    pb::DecideApprovalBody,
    pb::AwaitApprovalBody,
    pb::SetAgentEnabledBody,
    pb::ListDecisionsBody,
    pb::RevokeGrantBody,
    pb::RegisterAgentBody,
    pb::RotateRootKeyBody,
    pb::GetGrantBody,
    // The tool and skill registry.
    pb::RegisterToolBody,
    pb::RegisterSkillBody,
    pb::CertifyBody,
    pb::RevokeRegistryBody,
    pb::ListRegistryBody,
);

impl SignedBody for pb::GrantRequestBody {
    fn freshness(&self) -> Option<&Freshness> {
        self.freshness.as_ref()
    }

    fn claimed_agent(&self) -> Option<&str> {
        Some(&self.agent_id)
    }
}

/// An authenticated request: who signed it, and its decoded body.
pub(super) struct Signed<B> {
    pub caller: Caller,
    pub body: B,
}

/// Verifies `request` for `rpc` as signed by a principal of `role`, and admits its
/// freshness exactly once at `now_ms`.
pub(super) fn authenticate<B: SignedBody>(
    principals: &Principals,
    replay: &ReplayCaches,
    role: Role,
    rpc: &str,
    request: &SignedRequest,
    now_ms: i64,
) -> Result<Signed<B>, AuthorityError> {
    let caller = principals.caller(role, &request.signer_id)?;
    let body: B = signed::verify(rpc, request, &caller.key)?;
    if let Some(agent) = body.claimed_agent() {
        if agent != request.signer_id {
            return Err(AuthorityError::Unauthenticated(format!(
                "body names agent `{agent}` but is signed by `{}`",
                request.signer_id
            )));
        }
    }
    replay
        .for_role(role)
        .admit(&request.signer_id, body.freshness(), now_ms)?;
    Ok(Signed { caller, body })
}

/// The RPCs only executors use (the revocation feed) need a client certificate: rustls has
/// already checked in the handshake that any certificate presented chains to the deployment
/// CA, so here it is enough that one was presented. `required` is false only on the explicitly
/// insecure plaintext listener, where there is no certificate to ask for.
pub(super) fn require_executor_certificate<T>(
    request: &Request<T>,
    required: bool,
    rpc: &str,
) -> Result<(), AuthorityError> {
    let presented = request.peer_certs().is_some_and(|chain| !chain.is_empty());
    if required && !presented {
        return Err(AuthorityError::Unauthenticated(format!(
            "`{rpc}` is served only to executors: connect with a client certificate issued by the deployment CA"
        )));
    }
    Ok(())
}
