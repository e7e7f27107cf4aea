//! Who may sign requests: agents (from config or registered at run time) and admins.

use std::collections::HashMap;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;

use crate::config::Principal;
use crate::error::AuthorityError;
use crate::registry::{AgentEntry, Registry};

/// Signer ids of operators are `admin:<name>`.
pub const ADMIN_PREFIX: &str = "admin:";

/// Looks up the public key for a signer id.
pub struct Principals {
    config_agents: HashMap<String, Principal>,
    admins: HashMap<String, Principal>,
    registry: Arc<dyn Registry>,
}

impl Principals {
    pub fn new(agents: &[Principal], admins: &[Principal], registry: Arc<dyn Registry>) -> Self {
        Self {
            config_agents: agents.iter().map(|p| (p.id.clone(), p.clone())).collect(),
            admins: admins.iter().map(|p| (p.id.clone(), p.clone())).collect(),
            registry,
        }
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
