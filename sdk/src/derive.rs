//! Derived grants for sub-agents: narrow a grant offline and re-bind it to the sub-agent's key.
//!
//! The parent appends one third-party block signed with its own key. The block declares the
//! hop (`delegation`, `derived_grant`, `subtask_purpose`, `narrow_*` facts), enforces the
//! narrowing with checks, and re-binds the holder check to the sub-agent's key. Every check
//! of every block must pass, so a derived grant can only ever do less than its parent.

use std::collections::HashMap;

use biscuit_auth::builder::{self, Term};
use biscuit_auth::{Biscuit, BlockBuilder};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::attenuate::{attenuation_block, Attenuation};
use crate::error::SdkError;
use crate::keys;
use crate::lineage;
use crate::narrowing::EffectiveScope;
use crate::vocabulary::read_claims;

/// What a parent hands down.
#[derive(Debug, Clone, Default)]
pub struct Derivation {
    pub narrowing: Attenuation,
    /// The subtask's purpose, recorded in the block.
    pub purpose: String,
    /// Id for the derived grant; a UUID v7 when `None`.
    pub derived_id: Option<String>,
}

/// A derived grant and its place in the lineage.
#[derive(Debug, Clone)]
pub struct DerivedGrant {
    pub token: Biscuit,
    pub derived_id: String,
    pub parent_id: String,
    /// Delegation depth of the new grant (1 for a child of an authority-minted grant).
    pub depth: usize,
}

/// The delegation block's source, parameters and the holder re-binding, without widening checks.
///
/// `derive` uses it after refusing widening; tests use it directly to force a widening block
/// that only the executor then refuses.
pub fn delegation_block(
    parent_key: &VerifyingKey,
    child: &VerifyingKey,
    derived_id: &str,
    parent_id: &str,
    derivation: &Derivation,
) -> Result<BlockBuilder, SdkError> {
    let n = &derivation.narrowing;
    let mut code = String::from(
        "delegation({from}, {to});\nderived_grant({id}, {parent});\nsubtask_purpose({purpose});\n\
         check if holder_proof({to}) or delegation({to}, $next) trusting {to_key};\n",
    );
    let mut params: HashMap<String, Term> = HashMap::new();
    params.insert("from".into(), builder::bytes(parent_key.as_bytes()));
    params.insert("to".into(), builder::bytes(child.as_bytes()));
    params.insert("id".into(), builder::string(derived_id));
    params.insert("parent".into(), builder::string(parent_id));
    params.insert("purpose".into(), builder::string(&derivation.purpose));
    let mut i = 0;
    let mut fact =
        |code: &mut String, params: &mut HashMap<String, Term>, name: &str, terms: Vec<Term>| {
            let names: Vec<String> = terms
                .into_iter()
                .map(|t| {
                    i += 1;
                    let p = format!("n{i}");
                    params.insert(p.clone(), t);
                    format!("{{{p}}}")
                })
                .collect();
            code.push_str(&format!("{name}({});\n", names.join(", ")));
        };
    for op in n.operations.iter().flatten() {
        fact(
            &mut code,
            &mut params,
            "narrow_operation",
            vec![builder::string(op)],
        );
    }
    for p in n.prefixes.iter().flatten() {
        fact(
            &mut code,
            &mut params,
            "narrow_prefix",
            vec![builder::string(p)],
        );
    }
    for c in n.commands.iter().flatten() {
        fact(
            &mut code,
            &mut params,
            "narrow_command",
            vec![builder::string(c)],
        );
    }
    if let Some(exp) = &n.expires_at {
        fact(
            &mut code,
            &mut params,
            "narrow_expiry",
            vec![builder::date(exp)],
        );
    }
    for (name, value) in &n.limits {
        fact(
            &mut code,
            &mut params,
            "narrow_limit",
            vec![builder::string(name), builder::int(*value)],
        );
    }
    let mut scope_params = HashMap::new();
    scope_params.insert("to_key".to_string(), keys::to_biscuit_public(child)?);
    let block = BlockBuilder::new()
        .code_with_params(code, params, scope_params)
        .map_err(|e| SdkError::InvalidRequest(format!("delegation block does not compile: {e}")))?;
    Ok(block.merge(attenuation_block(n)?))
}

/// Narrows `parent` for a sub-agent holding `child`, offline, signed by `parent_key`.
///
/// Refuses (with [`SdkError::Widening`]) anything the parent grant does not already allow,
/// and refuses a `parent_key` that does not currently hold the grant.
pub fn derive(
    parent: &Biscuit,
    parent_key: &SigningKey,
    child: &VerifyingKey,
    derivation: &Derivation,
) -> Result<DerivedGrant, SdkError> {
    let claims = read_claims(parent)?;
    let links = lineage::links(parent)?;
    let holder = lineage::current_holder(&claims.holder, &links)?;
    if holder != parent_key.verifying_key() {
        return Err(SdkError::InvalidRequest(
            "this key does not hold the grant, so it cannot derive from it".into(),
        ));
    }
    EffectiveScope::of(&claims, &links)
        .with_token_blocks(parent)?
        .check_narrows(&derivation.narrowing)?;
    let parent_id = links
        .last()
        .map(|l| l.derived_id.clone())
        .unwrap_or_else(|| claims.grant_id.clone());
    let derived_id = derivation
        .derived_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let block = delegation_block(
        &parent_key.verifying_key(),
        child,
        &derived_id,
        &parent_id,
        derivation,
    )?;
    let request = parent
        .third_party_request()
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    let signed = request
        .create_block(&keys::to_biscuit_private(parent_key)?, block)
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    let token = parent
        .append_third_party(
            keys::to_biscuit_public(&parent_key.verifying_key())?,
            signed,
        )
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    // The new hop's id must be well formed and new to the lineage (executors and the authority
    // refuse it otherwise); say so here rather than hand out a grant nobody accepts.
    lineage::check_ids(&claims.grant_id, &lineage::links(&token)?)
        .map_err(|e| SdkError::InvalidRequest(e.to_string()))?;
    Ok(DerivedGrant {
        token,
        derived_id,
        parent_id,
        depth: links.len() + 1,
    })
}
