//! Minting: turns an allowed decision's envelope into a signed, holder-bound Biscuit grant.
//!
//! Pure apart from the signature's randomness: ids, clock and keys are parameters.

use biscuit_auth::builder;
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
    mint_with(request, envelope, context, key_id, key, &[], "")
}

/// Signs a grant that approvers approved for exactly the parameters whose digest is
/// `parameters_digest`: the authority block states `approval("approved", APPROVER, DIGEST)`
/// once per approver (in the order they approved) and checks `param_digest($d), $d == DIGEST`.
pub fn mint_approved(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
    approvers: &[String],
    parameters_digest: &str,
) -> Result<MintedGrant, AuthorityError> {
    if approvers.is_empty() || parameters_digest.is_empty() {
        return Err(AuthorityError::Internal(
            "an approved grant needs approvers and a digest".into(),
        ));
    }
    mint_with(
        request,
        envelope,
        context,
        key_id,
        key,
        approvers,
        parameters_digest,
    )
}

fn mint_with(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
    approvers: &[String],
    parameters_digest: &str,
) -> Result<MintedGrant, AuthorityError> {
    let approval = match approvers.first() {
        None => Approval::NotRequired,
        Some(first) => Approval::Approved {
            approver: first.clone(),
            parameters_digest: parameters_digest.to_string(),
        },
    };
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
            .map(|s| {
                (
                    s.operation.clone(),
                    s.resource.trim_end_matches('/').to_string(),
                )
            })
            .collect(),
        commands: envelope.commands.clone(),
        limits: envelope.limits.clone(),
        deny_globs: envelope.deny_globs.clone(),
        deny_regexes: envelope.deny_regexes.clone(),
        approval,
        issued_at: envelope.issued_at,
        expires_at: envelope.expires_at,
    };
    let mut block = vocabulary::authority_block(&claims)?;
    // Every further approver of an m-of-n approval is named by its own `approval` fact.
    for approver in approvers.iter().skip(1) {
        block = block
            .fact(builder::fact(
                "approval",
                &[
                    builder::string("approved"),
                    builder::string(approver),
                    builder::string(parameters_digest),
                ],
            ))
            .map_err(|e| AuthorityError::Internal(format!("minting failed: {e}")))?;
    }
    let token = block
        .root_key_id(key_id)
        .build(key)
        .map_err(|e| AuthorityError::Internal(format!("minting failed: {e}")))?;
    let revocation_ids = token
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect();
    let bytes = token
        .to_vec()
        .map_err(|e| AuthorityError::Internal(format!("serializing grant: {e}")))?;
    Ok(MintedGrant {
        token: bytes,
        claims,
        root_key_id: key_id,
        revocation_ids,
    })
}
