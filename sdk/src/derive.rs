//! Derived grants for sub-agents: narrow a grant offline and re-bind it to the sub-agent's key.
//!
//! The parent appends one third-party block signed with its own key. The block declares the
//! hop (`delegation`, `derived_grant`, `subtask_purpose`, `narrow_*` facts), enforces the
//! narrowing with checks, and re-binds the holder check to the sub-agent's key. Every check
//! of every block must pass, so a derived grant can only ever do less than its parent.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use biscuit_auth::builder::{self, Term};
use biscuit_auth::{Biscuit, BlockBuilder};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::attenuate::{attenuation_block, Attenuation};
use crate::error::SdkError;
use crate::keys;
use crate::lineage::{self, Link};
use crate::vocabulary::{directory_form, read_claims, GrantClaims};

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

/// The scope a grant has after every hop so far: what a new hop may narrow from.
#[derive(Debug, Clone)]
pub struct EffectiveScope {
    pub operations: BTreeSet<String>,
    /// Each hop's prefix set; a resource must lie within one prefix of every set.
    pub prefix_sets: Vec<Vec<String>>,
    pub commands: BTreeSet<String>,
    pub expires_at: SystemTime,
    pub limits: Vec<(String, i64)>,
}

fn within(prefix: &str, outer: &str) -> bool {
    outer.is_empty() || prefix == outer || prefix.starts_with(&directory_form(outer))
}

impl EffectiveScope {
    pub fn of(claims: &GrantClaims, links: &[Link]) -> Self {
        let mut operations: BTreeSet<String> =
            claims.scopes.iter().map(|(op, _)| op.clone()).collect();
        if !claims.commands.is_empty() {
            operations.insert("proc.run".into());
        }
        let mut commands: BTreeSet<String> =
            claims.commands.iter().map(|(n, _)| n.clone()).collect();
        let mut prefix_sets = vec![claims
            .scopes
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>()];
        let mut expires_at = claims.expires_at;
        let mut limits = claims.limits.clone();
        for link in links {
            if let Some(ops) = &link.operations {
                operations = operations.intersection(ops).cloned().collect();
            }
            if let Some(cmds) = &link.commands {
                commands = commands.intersection(cmds).cloned().collect();
            }
            if let Some(p) = &link.prefixes {
                prefix_sets.push(p.clone());
            }
            if let Some(e) = link.expires_at {
                expires_at = expires_at.min(e);
            }
            for (name, value) in &link.limits {
                match limits.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => *v = (*v).min(*value),
                    None => limits.push((name.clone(), *value)),
                }
            }
        }
        Self {
            operations,
            prefix_sets,
            commands,
            expires_at,
            limits,
        }
    }

    /// Refuses a narrowing that asks for anything outside this scope.
    pub fn check_narrows(&self, n: &Attenuation) -> Result<(), SdkError> {
        if let Some(ops) = &n.operations {
            if let Some(op) = ops.iter().find(|op| !self.operations.contains(*op)) {
                return Err(SdkError::Widening(format!(
                    "operation `{op}` is not in the parent grant"
                )));
            }
        }
        if let Some(prefixes) = &n.prefixes {
            for p in prefixes {
                if p.split('/').any(|c| c == "..") || p.starts_with('/') || p.contains('\0') {
                    return Err(SdkError::InvalidRequest(format!(
                        "prefix `{p}` is not a workspace-relative path"
                    )));
                }
                for set in &self.prefix_sets {
                    if !set.iter().any(|outer| within(p, outer)) {
                        return Err(SdkError::Widening(format!(
                            "prefix `{p}` is outside the parent grant"
                        )));
                    }
                }
            }
        }
        if let Some(cmds) = &n.commands {
            if let Some(c) = cmds.iter().find(|c| !self.commands.contains(*c)) {
                return Err(SdkError::Widening(format!(
                    "command `{c}` is not in the parent grant"
                )));
            }
        }
        if let Some(exp) = n.expires_at {
            if exp > self.expires_at {
                return Err(SdkError::Widening(
                    "expiry is later than the parent grant's".into(),
                ));
            }
        }
        for (name, value) in &n.limits {
            if let Some((_, max)) = self.limits.iter().find(|(l, _)| l == name) {
                if value > max {
                    return Err(SdkError::Widening(format!(
                        "limit `{name}` = {value} exceeds the parent's {max}"
                    )));
                }
            }
        }
        Ok(())
    }
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
    EffectiveScope::of(&claims, &links).check_narrows(&derivation.narrowing)?;
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
    Ok(DerivedGrant {
        token,
        derived_id,
        parent_id,
        depth: links.len() + 1,
    })
}
