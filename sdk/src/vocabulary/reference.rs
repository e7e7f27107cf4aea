//! The reference construction of an authority block: its Datalog text parsed per grant.
//!
//! Grants are minted from parsed templates ([`super::authority_block`]); this is the older,
//! readable construction that tests compare the minted bytes against and that the mint bench
//! prints for comparison. Not used on any request path.

use std::collections::HashMap;

use biscuit_auth::builder;
use biscuit_auth::{Biscuit, BiscuitBuilder};

use super::checks::{APPROVAL_CHECK, AUTHORITY_CHECKS};
use super::write::{authority_facts, check_claims};
use super::{Approval, GrantClaims};
use crate::error::SdkError;
use crate::keys;

/// The authority block built by parsing its Datalog text with `code_with_params`, as every
/// grant was built before the check templates. Kept as the reference [`super::authority_block`]
/// is tested against.
#[doc(hidden)]
pub fn authority_block_from_text(claims: &GrantClaims) -> Result<BiscuitBuilder, SdkError> {
    check_claims(claims)?;
    let mut b = Biscuit::builder();
    for fact in authority_facts(claims) {
        b = b
            .fact(fact)
            .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    }
    let mut code = String::from(AUTHORITY_CHECKS);
    let mut params = HashMap::new();
    for (i, (glob, regex)) in claims
        .deny_globs
        .iter()
        .zip(&claims.deny_regexes)
        .enumerate()
    {
        let check = crate::deny::deny_check(glob, regex);
        let mut body = check.body.clone();
        for (j, value) in check.params.iter().enumerate() {
            let name = format!("deny{i}_{j}");
            body = body.replace(&format!("{{p{j}}}"), &format!("{{{name}}}"));
            params.insert(name, builder::string(value));
        }
        code.push_str(&format!("check if resource($r), {body};\n"));
    }
    for (i, (name, max)) in claims.limits.iter().enumerate() {
        code.push_str(&format!(
            "check if param({{limit_name{i}}}, $v), $v <= {{limit_max{i}}};\n"
        ));
        params.insert(format!("limit_name{i}"), builder::string(name));
        params.insert(format!("limit_max{i}"), builder::int(*max));
    }
    params.insert("exp".to_string(), builder::date(&claims.expires_at));
    params.insert("workspace".to_string(), builder::string(&claims.workspace));
    params.insert(
        "holder".to_string(),
        builder::bytes(claims.holder.as_bytes()),
    );
    let mut scope_params = HashMap::new();
    scope_params.insert(
        "holder_key".to_string(),
        keys::to_biscuit_public(&claims.holder)?,
    );
    let b = b
        .code_with_params(code, params, scope_params)
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    match &claims.approval {
        Approval::NotRequired => Ok(b),
        Approval::Approved {
            parameters_digest, ..
        } => {
            let mut params = HashMap::new();
            params.insert("digest".to_string(), builder::string(parameters_digest));
            b.code_with_params(APPROVAL_CHECK, params, HashMap::new())
                .map_err(|e| SdkError::InvalidGrant(e.to_string()))
        }
    }
}
