//! The delegation chain inside a grant: which key handed it to which, and what each hop narrowed.
//!
//! A derived grant carries, per hop, a third-party block signed by the key that held the
//! grant. That block states `delegation(FROM, TO)` (key as first term, so another key's facts
//! never match), `derived_grant(ID, PARENT_ID)`, the declared narrowing
//! (`narrow_operation`, `narrow_prefix`, `narrow_command`, `narrow_expiry`, `narrow_limit`),
//! the checks that enforce that narrowing, and the holder check re-bound to `TO`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use biscuit_auth::builder::Term;
use biscuit_auth::Biscuit;
use ed25519_dalek::VerifyingKey;

use crate::error::SdkError;
use crate::keys;
use crate::structure::Structure;

/// One delegation hop, read from the block its `from` key signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Index of the block in the token.
    pub block: usize,
    pub from: VerifyingKey,
    pub to: VerifyingKey,
    pub derived_id: String,
    pub parent_id: String,
    pub purpose: String,
    pub operations: Option<BTreeSet<String>>,
    pub prefixes: Option<Vec<String>>,
    pub commands: Option<BTreeSet<String>>,
    pub expires_at: Option<SystemTime>,
    pub limits: Vec<(String, i64)>,
}

fn key_of(term: &Term) -> Result<VerifyingKey, SdkError> {
    match term {
        Term::Bytes(b) => keys::verifying_key_from_bytes(b),
        other => Err(SdkError::InvalidGrant(format!(
            "expected a key, found `{other}`"
        ))),
    }
}

fn text(term: &Term) -> Result<String, SdkError> {
    match term {
        Term::Str(s) => Ok(s.clone()),
        other => Err(SdkError::InvalidGrant(format!(
            "expected a string, found `{other}`"
        ))),
    }
}

/// Reads every delegation hop of `token`, in block order, without evaluating any Datalog.
///
/// Only third-party blocks count, and only the facts written in the block its key signed,
/// where the delegation's first term is that key; a key that signed more than one delegation
/// block makes the chain ambiguous and is refused.
pub fn links(token: &Biscuit) -> Result<Vec<Link>, SdkError> {
    if token.external_public_keys().iter().all(Option::is_none) {
        return Ok(Vec::new());
    }
    links_from(&Structure::read(token)?)
}

/// [`links`] over a token already decoded.
pub fn links_from(structure: &Structure) -> Result<Vec<Link>, SdkError> {
    let mut out: Vec<Link> = Vec::new();
    for block in structure.blocks() {
        let Some(key) = block.external_key else {
            continue;
        };
        let from = keys::verifying_key_from_bytes(&key.to_bytes())?;
        let facts = |name: &str, arity: usize| -> Result<Vec<Vec<Term>>, SdkError> {
            Ok(block
                .facts_named(&[(name, arity)])?
                .into_iter()
                .map(|f| f.predicate.terms)
                .collect())
        };
        let delegations: Vec<(VerifyingKey, VerifyingKey)> = facts("delegation", 2)?
            .iter()
            .map(|t| Ok((key_of(&t[0])?, key_of(&t[1])?)))
            .collect::<Result<Vec<_>, SdkError>>()?
            .into_iter()
            .filter(|(f, _)| *f == from)
            .collect();
        let to = match delegations.as_slice() {
            [] => continue,
            [(_, to)] if out.iter().all(|l| l.from != from) => *to,
            _ => {
                return Err(SdkError::InvalidGrant(format!(
                    "key {key} signed more than one delegation"
                )))
            }
        };
        let derived = facts("derived_grant", 2)?;
        let (derived_id, parent_id) = match derived.first() {
            Some(t) => (text(&t[0])?, text(&t[1])?),
            None => (String::new(), String::new()),
        };
        let purpose = facts("subtask_purpose", 1)?
            .first()
            .map(|t| text(&t[0]))
            .transpose()?
            .unwrap_or_default();
        let ops = facts("narrow_operation", 1)?;
        let prefixes = facts("narrow_prefix", 1)?;
        let commands = facts("narrow_command", 1)?;
        let expiry = facts("narrow_expiry", 1)?;
        let mut limits = Vec::new();
        for t in facts("narrow_limit", 2)? {
            if let Term::Integer(v) = &t[1] {
                limits.push((text(&t[0])?, *v));
            }
        }
        out.push(Link {
            block: block.index,
            from,
            to,
            derived_id,
            parent_id,
            purpose,
            operations: (!ops.is_empty())
                .then(|| ops.iter().filter_map(|t| text(&t[0]).ok()).collect()),
            prefixes: (!prefixes.is_empty())
                .then(|| prefixes.iter().filter_map(|t| text(&t[0]).ok()).collect()),
            commands: (!commands.is_empty())
                .then(|| commands.iter().filter_map(|t| text(&t[0]).ok()).collect()),
            expires_at: expiry.iter().find_map(|t| match &t[0] {
                Term::Date(d) => Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(*d)),
                _ => None,
            }),
            limits,
        });
    }
    Ok(out)
}

/// Longest derived grant id accepted.
pub const MAX_DERIVED_ID_LEN: usize = 128;

/// Checks the ids a chain of hops names: each hop has its own id (1 to
/// [`MAX_DERIVED_ID_LEN`] characters of `A-Z a-z 0-9 . _ : -`), names the previous hop (the root
/// grant for the first) as its parent, and no id appears twice in the lineage, the root's
/// included. Revocation and provenance name grants by these ids, so an ambiguous one would let
/// one grant hide behind another's record.
pub fn check_ids(root_id: &str, links: &[Link]) -> Result<(), SdkError> {
    let mut seen = std::collections::HashSet::from([root_id]);
    let mut parent = root_id;
    for link in links {
        let id = link.derived_id.as_str();
        let well_formed = !id.is_empty()
            && id.len() <= MAX_DERIVED_ID_LEN
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !well_formed {
            return Err(SdkError::InvalidGrant(format!(
                "block {} has a missing or malformed derived grant id",
                link.block
            )));
        }
        if link.parent_id != parent {
            return Err(SdkError::InvalidGrant(format!(
                "block {} names parent `{}`, expected `{parent}`",
                link.block, link.parent_id
            )));
        }
        if !seen.insert(id) {
            return Err(SdkError::InvalidGrant(format!(
                "block {} reuses the grant id `{id}` already in its lineage",
                link.block
            )));
        }
        parent = id;
    }
    Ok(())
}

/// Who may prove possession now: the original holder, then each delegate in turn.
///
/// A hop whose signer is not the current holder breaks the chain and is refused.
pub fn current_holder(original: &VerifyingKey, links: &[Link]) -> Result<VerifyingKey, SdkError> {
    let mut holder = *original;
    for link in links {
        if link.from != holder {
            return Err(SdkError::InvalidGrant(format!(
                "block {} delegates from a key that does not hold the grant",
                link.block
            )));
        }
        holder = link.to;
    }
    Ok(holder)
}
