//! DeriveGrant: the authority learns a derived grant's lineage before its first use.
//!
//! Derivation happens offline (the parent signs a delegation block with its own key); the
//! authority only verifies the token, checks that the chain is well formed and that the
//! caller is the agent the root grant was issued to, and records each hop, so that
//! revocation by grant id (and lineage queries) can follow it.
//!
//! None of the token's Datalog is evaluated here: claims and the chain are read from the blocks
//! as written ([`trust_sdk::structure`]), and a grant whose appended blocks exceed the static
//! Datalog caps ([`trust_sdk::datalog_caps`]) is refused, as every executor would refuse it.

use std::time::SystemTime;

use biscuit_auth::Biscuit;
use trust_sdk::clock::millis;
use trust_sdk::datalog_caps::DatalogCaps;

use crate::error::AuthorityError;
use crate::keyring::Keyring;
use crate::registry::{GrantEntry, Registry};

/// Largest derived grant accepted for registration.
const MAX_DERIVED_BYTES: usize = 64 * 1024;

/// What a registration recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The hops registered now (the same hops registered before are skipped; a different grant
    /// under a registered id is refused).
    pub registered_grant_ids: Vec<String>,
    pub depth: u32,
}

/// Registers the lineage of `derived_grant` for `agent` (who must hold its root grant).
pub fn register(
    derived_grant: &[u8],
    agent: &str,
    now: SystemTime,
    keyring: &Keyring,
    registry: &dyn Registry,
) -> Result<Derived, AuthorityError> {
    if derived_grant.len() > MAX_DERIVED_BYTES {
        return Err(AuthorityError::InvalidArgument(format!(
            "derived grant is larger than {MAX_DERIVED_BYTES} bytes"
        )));
    }
    let keys = keyring.public_keys();
    let token =
        Biscuit::from(derived_grant, trust_sdk::client::root_key_provider(&keys)).map_err(|e| {
            AuthorityError::Unauthenticated(format!("derived grant does not verify: {e}"))
        })?;
    let structure = trust_sdk::structure::Structure::read(&token)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    trust_sdk::datalog_caps::check(&structure, &DatalogCaps::default()).map_err(|e| {
        AuthorityError::InvalidArgument(format!("derived grant exceeds a Datalog cap: {e}"))
    })?;
    let claims = trust_sdk::vocabulary::claims_from_structure(&structure)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    if claims.agent != agent {
        return Err(AuthorityError::PermissionDenied(format!(
            "grant `{}` was issued to `{}`, not `{}`",
            claims.grant_id, claims.agent, agent
        )));
    }
    let root = registry
        .grant(&claims.grant_id)?
        .ok_or_else(|| AuthorityError::NotFound(format!("grant `{}`", claims.grant_id)))?;
    if root.revoked {
        return Err(AuthorityError::PermissionDenied(format!(
            "grant `{}` is revoked",
            claims.grant_id
        )));
    }
    let links = trust_sdk::lineage::links_from(&structure)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    trust_sdk::lineage::current_holder(&claims.holder, &links)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    if links.is_empty() {
        return Err(AuthorityError::InvalidArgument(
            "the grant has no delegation block".into(),
        ));
    }
    trust_sdk::lineage::check_ids(&claims.grant_id, &links)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    let block_ids = token.revocation_identifiers();
    let mut parent = claims.grant_id.clone();
    let mut entries = Vec::new();
    for link in &links {
        let own_block =
            hex::encode(block_ids.get(link.block).ok_or_else(|| {
                AuthorityError::InvalidArgument("block index out of range".into())
            })?);
        if let Some(existing) = registry.grant(&link.derived_id)? {
            // Registering the same chain again is harmless; a different grant under a taken
            // id would share the other's revocation and records.
            let same_hop = existing.parent_grant_id.as_deref() == Some(parent.as_str())
                && existing.revocation_ids == [own_block.clone()];
            if !same_hop {
                return Err(AuthorityError::AlreadyExists(format!(
                    "grant id `{}` (block {}) is already registered for another grant",
                    link.derived_id, link.block
                )));
            }
        } else {
            let expires = link
                .expires_at
                .map(millis)
                .unwrap_or(root.expires_at_ms)
                .min(root.expires_at_ms);
            entries.push(GrantEntry {
                grant_id: link.derived_id.clone(),
                parent_grant_id: Some(parent.clone()),
                agent: format!("{}>{}", root.agent, hex::encode(link.to.as_bytes())),
                user: root.user.clone(),
                workspace: root.workspace.clone(),
                task: root.task.clone(),
                correlation_id: root.correlation_id.clone(),
                decision_id: root.decision_id.clone(),
                issued_at_ms: millis(now),
                expires_at_ms: expires,
                root_key_id: root.root_key_id,
                // Its own delegation block: revoking it kills this grant and every descendant.
                revocation_ids: vec![own_block],
                revoked: false,
                skill: root.skill.clone(),
            });
        }
        parent = link.derived_id.clone();
    }
    registry.record_grants(&entries)?;
    tracing::info!(root = %claims.grant_id, registered = entries.len(), depth = links.len(), "derived grants registered");
    Ok(Derived {
        registered_grant_ids: entries.into_iter().map(|e| e.grant_id).collect(),
        depth: u32::try_from(links.len()).unwrap_or(u32::MAX),
    })
}
