//! The tool and skill registry's RPCs: each is signed by an admin (authenticated like every
//! admin RPC, replay-protected), converted, and handed to `tool_registry`'s actions.

use std::sync::Arc;

use trust_proto::authority::v1 as pb;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::clock::{millis, now};

use super::authenticate::{authenticate, Signed, SignedBody};
use super::convert;
use crate::error::{blocking, AuthorityError};
use crate::principals::{Principals, Role};
use crate::registry::Registry;
use crate::replay_caches::ReplayCaches;
use crate::revocation::RevocationFeed;
use crate::tool_registry::{RegistryAction, RegistryChanged};

/// What the registry RPCs need of the authority's components.
#[derive(Clone)]
pub(super) struct RegistryEdge {
    pub principals: Arc<Principals>,
    pub replay: Arc<ReplayCaches>,
    pub registry: Arc<dyn Registry>,
    pub feed: Arc<RevocationFeed>,
}

/// A signed body asking for a registry change, with the admin's reason.
pub(super) trait ChangeBody: SignedBody + Send + 'static {
    fn reason(&self) -> &str;
}

macro_rules! change_bodies {
    ($($body:ty),* $(,)?) => {
        $(impl ChangeBody for $body {
            fn reason(&self) -> &str {
                &self.reason
            }
        })*
    };
}

change_bodies!(
    pb::RegisterToolBody,
    pb::RegisterSkillBody,
    pb::CertifyBody,
    pb::RevokeRegistryBody,
);

/// A registry change asked for in a signed body of type `B`.
type Act<B> = fn(&RegistryAction<'_>, &B) -> Result<RegistryChanged, AuthorityError>;

impl RegistryEdge {
    /// Authenticates `request` as `rpc` signed by an admin, then runs `act` as that admin.
    pub(super) async fn change<B: ChangeBody>(
        self,
        rpc: &'static str,
        request: SignedRequest,
        act: Act<B>,
    ) -> Result<pb::RegistryChange, AuthorityError> {
        let changed = blocking(move || {
            let now = millis(now());
            let Signed { caller, body }: Signed<B> = authenticate(
                &self.principals,
                &self.replay,
                Role::Admin,
                rpc,
                &request,
                now,
            )?;
            let action = RegistryAction {
                actor: &caller.signer_id,
                reason: body.reason(),
                now_ms: now,
                registry: self.registry.as_ref(),
                feed: &self.feed,
            };
            act(&action, &body)
        })
        .await?;
        Ok(convert::registry_change(&changed))
    }

    /// `ListRegistry`: every version of every tool and skill, for an admin.
    pub(super) async fn list(
        self,
        request: SignedRequest,
    ) -> Result<pb::RegistryList, AuthorityError> {
        let (tools, skills) = blocking(move || {
            let _: Signed<pb::ListRegistryBody> = authenticate(
                &self.principals,
                &self.replay,
                Role::Admin,
                "ListRegistry",
                &request,
                millis(now()),
            )?;
            self.registry.catalog()
        })
        .await?;
        convert::registry_list(&tools, &skills)
    }
}

/// `RegisterTool`.
pub(super) fn register_tool(
    action: &RegistryAction<'_>,
    body: &pb::RegisterToolBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.register_tool(convert::tool_definition(&body.definition_json)?)
}

/// `RegisterSkill`.
pub(super) fn register_skill(
    action: &RegistryAction<'_>,
    body: &pb::RegisterSkillBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.register_skill(convert::skill_definition(&body.definition_json)?)
}

/// `CertifyTool`.
pub(super) fn certify_tool(
    action: &RegistryAction<'_>,
    body: &pb::CertifyBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.certify_tool(&body.id, body.version)
}

/// `CertifySkill`.
pub(super) fn certify_skill(
    action: &RegistryAction<'_>,
    body: &pb::CertifyBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.certify_skill(&body.id, body.version)
}

/// `RevokeTool`.
pub(super) fn revoke_tool(
    action: &RegistryAction<'_>,
    body: &pb::RevokeRegistryBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.revoke_tool(&body.id)
}

/// `RevokeSkill`.
pub(super) fn revoke_skill(
    action: &RegistryAction<'_>,
    body: &pb::RevokeRegistryBody,
) -> Result<RegistryChanged, AuthorityError> {
    action.revoke_skill(&body.id)
}
