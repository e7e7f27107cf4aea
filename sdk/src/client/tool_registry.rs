//! Client calls of the authority's tool and skill registry, each signed by an admin.

use ed25519_dalek::SigningKey;
use trust_proto::authority::v1 as apb;

use super::AuthorityClient;
use crate::clock::now_ms;
use crate::error::SdkError;
use crate::signed;

/// Tool or skill: the registry RPCs come in pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    Tool,
    Skill,
}

impl AuthorityClient {
    /// Registers a tool (`Tool`) or skill (`Skill`) version from its JSON definition, as a
    /// draft.
    pub async fn register_definition(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        kind: RegistryKind,
        definition_json: &str,
        reason: &str,
    ) -> Result<apb::RegistryChange, SdkError> {
        let freshness = Some(signed::freshness(now_ms()));
        let request = match kind {
            RegistryKind::Tool => signed::sign(
                "RegisterTool",
                &apb::RegisterToolBody {
                    freshness,
                    definition_json: definition_json.to_string(),
                    reason: reason.to_string(),
                },
                admin_id,
                admin_key,
            ),
            RegistryKind::Skill => signed::sign(
                "RegisterSkill",
                &apb::RegisterSkillBody {
                    freshness,
                    definition_json: definition_json.to_string(),
                    reason: reason.to_string(),
                },
                admin_id,
                admin_key,
            ),
        };
        let answer = match kind {
            RegistryKind::Tool => self.inner.register_tool(request).await?,
            RegistryKind::Skill => self.inner.register_skill(request).await?,
        };
        Ok(answer.into_inner())
    }

    /// Certifies one draft version of a tool or skill.
    pub async fn certify(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        kind: RegistryKind,
        id: &str,
        version: u32,
        reason: &str,
    ) -> Result<apb::RegistryChange, SdkError> {
        let body = apb::CertifyBody {
            freshness: Some(signed::freshness(now_ms())),
            id: id.to_string(),
            version,
            reason: reason.to_string(),
        };
        let answer = match kind {
            RegistryKind::Tool => {
                let request = signed::sign("CertifyTool", &body, admin_id, admin_key);
                self.inner.certify_tool(request).await?
            }
            RegistryKind::Skill => {
                let request = signed::sign("CertifySkill", &body, admin_id, admin_key);
                self.inner.certify_skill(request).await?
            }
        };
        Ok(answer.into_inner())
    }

    /// Revokes every version of a tool or skill.
    pub async fn revoke_definition(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        kind: RegistryKind,
        id: &str,
        reason: &str,
    ) -> Result<apb::RegistryChange, SdkError> {
        let body = apb::RevokeRegistryBody {
            freshness: Some(signed::freshness(now_ms())),
            id: id.to_string(),
            reason: reason.to_string(),
        };
        let answer = match kind {
            RegistryKind::Tool => {
                let request = signed::sign("RevokeTool", &body, admin_id, admin_key);
                self.inner.revoke_tool(request).await?
            }
            RegistryKind::Skill => {
                let request = signed::sign("RevokeSkill", &body, admin_id, admin_key);
                self.inner.revoke_skill(request).await?
            }
        };
        Ok(answer.into_inner())
    }

    /// Every version of every tool and skill.
    pub async fn list_registry(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
    ) -> Result<apb::RegistryList, SdkError> {
        let body = apb::ListRegistryBody {
            freshness: Some(signed::freshness(now_ms())),
        };
        let request = signed::sign("ListRegistry", &body, admin_id, admin_key);
        Ok(self.inner.list_registry(request).await?.into_inner())
    }

    /// Sends an already signed registry request as `rpc` (tests replay and forge with it).
    pub async fn send_registry_request(
        &mut self,
        rpc: &str,
        request: trust_proto::common::v1::SignedRequest,
    ) -> Result<apb::RegistryChange, SdkError> {
        let answer = match rpc {
            "RegisterTool" => self.inner.register_tool(request).await?,
            "CertifyTool" => self.inner.certify_tool(request).await?,
            "RevokeTool" => self.inner.revoke_tool(request).await?,
            "RegisterSkill" => self.inner.register_skill(request).await?,
            "CertifySkill" => self.inner.certify_skill(request).await?,
            "RevokeSkill" => self.inner.revoke_skill(request).await?,
            other => {
                return Err(SdkError::InvalidRequest(format!(
                    "`{other}` is not a registry change RPC"
                )))
            }
        };
        Ok(answer.into_inner())
    }
}
