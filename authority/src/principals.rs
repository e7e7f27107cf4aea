//! Who may sign requests: agents (from config or registered at run time), admins and
//! approvers, and which key each role's signer id names.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;

use crate::config::Principal;
use crate::error::AuthorityError;
use crate::registry::{AgentEntry, Registry};

/// Signer ids of operators are `admin:<name>`.
pub const ADMIN_PREFIX: &str = "admin:";
/// Signer ids of approvers are `approver:<name>`.
pub const APPROVER_PREFIX: &str = "approver:";

/// The kind of principal a request must be signed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Agent,
    Admin,
    Approver,
    /// An approver or an admin (reading approvals).
    Overseer,
}

/// A signer whose id names a principal of the requested role, with that principal's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub signer_id: String,
    /// The approver's name (`<name>` of `approver:<name>`) when an approver signed.
    pub approver: Option<String>,
    pub key: VerifyingKey,
}

/// For whom an agent may request grants: its registered owner, and the users the
/// configuration lets it act for (`acts_for`). The accountable user of a request is one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentAccount {
    pub agent_id: String,
    pub owner: String,
    pub acts_for: Vec<String>,
}

impl AgentAccount {
    /// Whether `user` is the owner or a user this agent may act for.
    pub fn may_act_for(&self, user: &str) -> bool {
        (!self.owner.is_empty() && self.owner == user) || self.acts_for.iter().any(|u| u == user)
    }

    /// Why a request for `user` is refused (for the decision log and the agent).
    pub fn refusal(&self, user: &str) -> String {
        let mut may = Vec::new();
        if !self.owner.is_empty() {
            may.push(format!("its owner `{}`", self.owner));
        }
        may.extend(self.acts_for.iter().map(|u| format!("`{u}`")));
        let may = if may.is_empty() {
            "nobody (it has no owner and acts for no user)".to_string()
        } else {
            may.join(", ")
        };
        format!(
            "denied: agent `{}` may request grants only for {may}, not for `{user}`",
            self.agent_id
        )
    }
}

/// Looks up the public key for a signer id.
pub struct Principals {
    config_agents: HashMap<String, Principal>,
    admins: HashMap<String, Principal>,
    approvers: HashMap<String, VerifyingKey>,
    registry: Arc<dyn Registry>,
}

impl Principals {
    pub fn new(
        agents: &[Principal],
        admins: &[Principal],
        approvers: &[Principal],
        registry: Arc<dyn Registry>,
    ) -> Self {
        Self {
            config_agents: agents.iter().map(|p| (p.id.clone(), p.clone())).collect(),
            admins: admins.iter().map(|p| (p.id.clone(), p.clone())).collect(),
            approvers: approvers
                .iter()
                .map(|p| (p.id.clone(), p.public_key))
                .collect(),
            registry,
        }
    }

    /// The principal `signer_id` names in `role`; anyone else is an authentication failure.
    pub fn caller(&self, role: Role, signer_id: &str) -> Result<Caller, AuthorityError> {
        let caller = |key, approver| Caller {
            signer_id: signer_id.to_string(),
            approver,
            key,
        };
        match role {
            Role::Agent => Ok(caller(self.agent_key(signer_id)?, None)),
            Role::Admin => Ok(caller(self.admin_key(signer_id)?, None)),
            Role::Approver => {
                let (name, key) = self.approver(signer_id)?;
                Ok(caller(key, Some(name)))
            }
            Role::Overseer => match self.approver(signer_id) {
                Ok((name, key)) => Ok(caller(key, Some(name))),
                Err(_) => {
                    let key = self.admin_key(signer_id).map_err(|_| {
                        AuthorityError::Unauthenticated(format!(
                            "`{signer_id}` is neither an approver nor an admin"
                        ))
                    })?;
                    Ok(caller(key, None))
                }
            },
        }
    }

    /// The approver name of signer `approver:<name>` and its key.
    fn approver(&self, signer_id: &str) -> Result<(String, VerifyingKey), AuthorityError> {
        signer_id
            .strip_prefix(APPROVER_PREFIX)
            .and_then(|name| self.approvers.get(name).map(|k| (name.to_string(), *k)))
            .ok_or_else(|| {
                AuthorityError::Unauthenticated(format!("`{signer_id}` is not an approver"))
            })
    }

    /// The key of agent `id`; unknown agents are an authentication failure.
    pub fn agent_key(&self, id: &str) -> Result<VerifyingKey, AuthorityError> {
        if let Some(p) = self.config_agents.get(id) {
            return Ok(p.public_key);
        }
        match self.registry.agent(id)? {
            Some(entry) => {
                trust_sdk::keys::verifying_key_from_hex(&entry.public_key).map_err(|e| {
                    AuthorityError::Storage(format!("agent `{id}` has a bad stored key: {e}"))
                })
            }
            None => Err(AuthorityError::Unauthenticated(format!(
                "unknown agent `{id}`"
            ))),
        }
    }

    /// Whom agent `id` may act for: owner and `acts_for` from configuration, or the owner it
    /// was registered with.
    pub fn account(&self, id: &str) -> Result<AgentAccount, AuthorityError> {
        if let Some(p) = self.config_agents.get(id) {
            return Ok(AgentAccount {
                agent_id: id.to_string(),
                owner: p.owner.clone(),
                acts_for: p.acts_for.clone(),
            });
        }
        match self.registry.agent(id)? {
            Some(entry) => Ok(AgentAccount {
                agent_id: id.to_string(),
                owner: entry.owner,
                acts_for: Vec::new(),
            }),
            None => Err(AuthorityError::Unauthenticated(format!(
                "unknown agent `{id}`"
            ))),
        }
    }

    /// The key of admin signer `admin:<name>`.
    pub fn admin_key(&self, signer_id: &str) -> Result<VerifyingKey, AuthorityError> {
        signer_id
            .strip_prefix(ADMIN_PREFIX)
            .and_then(|name| self.admins.get(name))
            .map(|p| p.public_key)
            .ok_or_else(|| {
                AuthorityError::Unauthenticated(format!("`{signer_id}` is not an admin"))
            })
    }

    /// Registers (or re-keys) an agent at run time.
    pub fn register(
        &self,
        agent_id: &str,
        owner: &str,
        key: &VerifyingKey,
    ) -> Result<(), AuthorityError> {
        if self.config_agents.contains_key(agent_id) {
            return Err(AuthorityError::InvalidArgument(format!(
                "agent `{agent_id}` is defined in configuration"
            )));
        }
        self.registry.put_agent(&AgentEntry {
            agent_id: agent_id.to_string(),
            owner: owner.to_string(),
            public_key: hex::encode(key.as_bytes()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_acts_only_for_its_owner_and_configured_users() {
        let account = AgentAccount {
            agent_id: "dave-bot".into(),
            owner: "dave".into(),
            acts_for: vec!["alice".into()],
        };
        assert!(account.may_act_for("dave"));
        assert!(account.may_act_for("alice"));
        assert!(!account.may_act_for("bob"));
        assert!(!account.may_act_for(""));
        assert!(account
            .refusal("bob")
            .contains("only for its owner `dave`, `alice`, not for `bob`"));
        let orphan = AgentAccount {
            agent_id: "x".into(),
            ..Default::default()
        };
        assert!(!orphan.may_act_for(""));
        assert!(orphan.refusal("bob").contains("nobody"));
    }
}
