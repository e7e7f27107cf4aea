//! Offline narrowing of a grant: a new block of checks that can only take authority away.
//!
//! Biscuit guarantees the narrowing cryptographically (every block's checks must pass);
//! this module additionally refuses, with a clear error, an attenuation that asks for
//! more than the grant holds, so a caller learns of the mistake before an executor does.

use std::collections::HashMap;

use biscuit_auth::builder::{self, Term};
use biscuit_auth::{Biscuit, BlockBuilder};

use crate::error::SdkError;
use crate::narrowing::EffectiveScope;
use crate::vocabulary::{directory_form, GrantClaims};

pub use crate::narrowing::Attenuation;

fn strings(items: &[String]) -> Term {
    Term::Set(items.iter().map(|s| builder::string(s)).collect())
}

/// Refuses an attenuation that would ask for more than `claims` grant.
pub fn check_narrows(claims: &GrantClaims, attenuation: &Attenuation) -> Result<(), SdkError> {
    EffectiveScope::of(claims, &[]).check_narrows(attenuation)
}

/// [`check_narrows`] for `token`, with the argument constraints its blocks already carry.
fn check_token_narrows(
    token: &Biscuit,
    claims: &GrantClaims,
    attenuation: &Attenuation,
) -> Result<(), SdkError> {
    EffectiveScope::of(claims, &[])
        .with_token_blocks(token)?
        .check_narrows(attenuation)
}

/// The block of checks that expresses `attenuation` in the grant vocabulary.
pub fn attenuation_block(attenuation: &Attenuation) -> Result<BlockBuilder, SdkError> {
    let mut code = String::new();
    let mut params: HashMap<String, Term> = HashMap::new();
    if let Some(ops) = &attenuation.operations {
        code.push_str("check if operation($op), {ops}.contains($op);\n");
        params.insert("ops".into(), strings(ops));
    }
    if let Some(prefixes) = &attenuation.prefixes {
        let mut alternatives = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            alternatives.push(format!("$r == {{p{i}}} || $r.starts_with({{d{i}}})"));
            params.insert(format!("p{i}"), builder::string(p));
            params.insert(format!("d{i}"), builder::string(&directory_form(p)));
        }
        if alternatives.is_empty() {
            alternatives.push("false".into());
        }
        // A `proc.run` names a command as its resource; where it runs is the ambient `cwd`,
        // which must lie within the prefixes like any path.
        let within = alternatives.join(" || ");
        code.push_str(&format!(
            "check if operation(\"proc.run\"), cwd($r), {within} or operation($op), $op != \"proc.run\", resource($r), {within};\n"
        ));
    }
    if let Some(commands) = &attenuation.commands {
        code.push_str(
            "check if operation($op), $op != \"proc.run\" or resource($r), {cmds}.contains($r);\n",
        );
        params.insert("cmds".into(), strings(commands));
    }
    if let Some(exp) = &attenuation.expires_at {
        code.push_str("check if time($t), $t <= {exp};\n");
        params.insert("exp".into(), builder::date(exp));
    }
    for (i, (name, value)) in attenuation.limits.iter().enumerate() {
        if !crate::vocabulary::LIMIT_NAMES.contains(&name.as_str()) {
            return Err(SdkError::InvalidRequest(format!("unknown limit `{name}`")));
        }
        code.push_str(&format!(
            "check if param({{ln{i}}}, $v), $v <= {{lv{i}}};\n"
        ));
        params.insert(format!("ln{i}"), builder::string(name));
        params.insert(format!("lv{i}"), builder::int(*value));
    }
    let mut block = BlockBuilder::new()
        .code_with_params(code, params, HashMap::new())
        .map_err(|e| SdkError::InvalidRequest(format!("attenuation does not compile: {e}")))?;
    // tool.invoke: each further argument constraint, as a check and stated as data.
    for constraint in &attenuation.tool_arguments {
        let invalid = |e: biscuit_auth::error::Token| {
            SdkError::InvalidRequest(format!("argument constraint `{constraint}`: {e}"))
        };
        block = block
            .check(constraint.check()?)
            .map_err(invalid)?
            .fact(constraint.fact(crate::vocabulary::tool_args::NARROW_TOOL_ARG))
            .map_err(invalid)?;
    }
    // context.retrieve: what may be read, stated as data the executor combines (only tightens).
    for fact in crate::vocabulary::context_narrowing::narrowing_facts(&attenuation.context) {
        block = block.fact(fact).map_err(|e| {
            SdkError::InvalidRequest(format!("context narrowing does not compile: {e}"))
        })?;
    }
    Ok(block)
}

/// Narrows `token` offline: refuses widening, then appends the attenuation block.
pub fn attenuate(token: &Biscuit, attenuation: &Attenuation) -> Result<Biscuit, SdkError> {
    let claims = crate::vocabulary::read_claims(token)?;
    check_token_narrows(token, &claims, attenuation)?;
    token
        .append(attenuation_block(attenuation)?)
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))
}
