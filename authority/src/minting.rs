//! Minting: turns an allowed decision's envelope into a signed, holder-bound Biscuit grant.
//!
//! Pure apart from the signature's randomness: ids, clock and keys are parameters.

use biscuit_auth::KeyPair;
use ed25519_dalek::VerifyingKey;
use trust_sdk::vocabulary::{self, Approval, GrantClaims};

use crate::error::AuthorityError;
use crate::policy::GrantEnvelope;
use crate::request::GrantRequest;

/// Who the grant is for, beyond what policy decided.
#[derive(Debug, Clone)]
pub struct MintContext {
    pub grant_id: String,
    pub correlation_id: String,
    pub holder: VerifyingKey,
}

/// A signed grant and what the registry needs to know about it.
#[derive(Debug, Clone)]
pub struct MintedGrant {
    pub token: Vec<u8>,
    pub claims: GrantClaims,
    pub root_key_id: u32,
    /// Hex revocation id of each block (one: the authority block).
    pub revocation_ids: Vec<String>,
}

/// Signs a grant for `request` within `envelope` with the root key `(key_id, key)`.
pub fn mint(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
) -> Result<MintedGrant, AuthorityError> {
    let claims = GrantClaims {
        grant_id: context.grant_id.clone(),
        correlation_id: context.correlation_id.clone(),
        user: request.user.clone(),
        agent: request.agent_id.clone(),
        holder: context.holder,
        workspace: envelope.workspace.clone(),
        task: request.task.clone(),
        purpose: request.purpose.clone(),
        profile: envelope.profile.clone(),
        scopes: envelope
            .scopes
            .iter()
            .filter(|s| s.operation != "proc.run")
            .map(|s| (s.operation.clone(), s.resource.trim_end_matches('/').to_string()))
            .collect(),
        commands: envelope.commands.clone(),
        limits: envelope.limits.clone(),
        deny_globs: envelope.deny_globs.clone(),
        deny_regexes: envelope.deny_regexes.clone(),
        approval: Approval::NotRequired,
        issued_at: envelope.issued_at,
        expires_at: envelope.expires_at,
    };
    let token = vocabulary::authority_block(&claims)?
        .root_key_id(key_id)
        .build(key)
        .map_err(|e| AuthorityError::Internal(format!("minting failed: {e}")))?;
    let revocation_ids = token.revocation_identifiers().iter().map(hex::encode).collect();
    let bytes = token.to_vec().map_err(|e| AuthorityError::Internal(format!("serializing grant: {e}")))?;
    Ok(MintedGrant {
        token: bytes,
        claims,
        root_key_id: key_id,
        revocation_ids,
    })
}
