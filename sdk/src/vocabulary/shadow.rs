//! Shadow mode: the authority-block fact `shadow_mode(true)`, stated for a profile with
//! `shadow = true`, under which an authorize-only check (the executor's `Check` RPC) records
//! what enforcement would deny but answers allow. Execution never honours it: a grant in
//! shadow mode is enforced in full by `Execute`.
//!
//! Only the authority block states it; the same fact in any other block means nothing.

use biscuit_auth::builder::{self, Term};

use crate::error::SdkError;
use crate::structure::Structure;

/// The predicate of the shadow-mode fact.
pub const SHADOW_PREDICATE: &str = "shadow_mode";

/// `shadow_mode(true)`, for the authority block of a grant minted under a shadow profile.
pub fn shadow_fact() -> builder::Fact {
    builder::fact(SHADOW_PREDICATE, &[builder::boolean(true)])
}

/// Whether the authority block of a verified token states `shadow_mode(true)`.
pub fn is_shadow(structure: &Structure) -> Result<bool, SdkError> {
    let facts = structure
        .authority()?
        .facts_named(&[(SHADOW_PREDICATE, 1)])?;
    Ok(facts
        .iter()
        .any(|f| matches!(f.predicate.terms.as_slice(), [Term::Bool(true)])))
}
