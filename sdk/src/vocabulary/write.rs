//! Writes an authority block from claims: facts in a fixed order, checks from the parsed templates.

use biscuit_auth::builder::{self, Fact, Term};
use biscuit_auth::{Biscuit, BiscuitBuilder};
use ed25519_dalek::VerifyingKey;

use super::checks::{fill_check, templates};
use super::{directory_form, Approval, GrantClaims, LIMIT_NAMES};
use crate::error::SdkError;
use crate::keys;

/// The holder's key in biscuit's form. Converting decompresses the curve point (a square
/// root, about as costly as a signature), and one agent asks for many grants with the same
/// key, so each thread remembers the last key it converted.
fn holder_public_key(holder: &VerifyingKey) -> Result<biscuit_auth::PublicKey, SdkError> {
    thread_local! {
        static LAST: std::cell::Cell<Option<([u8; 32], biscuit_auth::PublicKey)>> =
            const { std::cell::Cell::new(None) };
    }
    let bytes = holder.to_bytes();
    if let Some((b, key)) = LAST.get() {
        if b == bytes {
            return Ok(key);
        }
    }
    let key = keys::to_biscuit_public(holder)?;
    LAST.set(Some((bytes, key)));
    Ok(key)
}

/// The authority block's facts for `claims`, in the order every grant states them.
pub(super) fn authority_facts(claims: &GrantClaims) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::with_capacity(
        14 + claims.scopes.len()
            + claims.child_limits.len()
            + claims.commands.len()
            + claims.limits.len()
            + claims.deny_globs.len()
            + claims.deny_regexes.len(),
    );
    facts.extend([
        builder::fact("grant_id", &[builder::string(&claims.grant_id)]),
        builder::fact("correlation_id", &[builder::string(&claims.correlation_id)]),
        builder::fact("user", &[builder::string(&claims.user)]),
        builder::fact("agent", &[builder::string(&claims.agent)]),
        builder::fact("holder", &[builder::bytes(claims.holder.as_bytes())]),
        builder::fact("workspace", &[builder::string(&claims.workspace)]),
        builder::fact("task", &[builder::string(&claims.task)]),
        builder::fact("purpose", &[builder::string(&claims.purpose)]),
        builder::fact("profile", &[builder::string(&claims.profile)]),
        builder::fact("issued_at", &[builder::date(&claims.issued_at)]),
        builder::fact("expires_at", &[builder::date(&claims.expires_at)]),
    ]);
    for (op, prefix) in &claims.scopes {
        facts.push(builder::fact(
            "scope",
            &[
                builder::string(op),
                builder::string(prefix),
                builder::string(&directory_form(prefix)),
            ],
        ));
    }
    for (name, argv) in &claims.commands {
        let argv = Term::Array(argv.iter().map(|a| builder::string(a)).collect());
        facts.push(builder::fact("command", &[builder::string(name), argv]));
    }
    for (name, max) in &claims.limits {
        facts.push(builder::fact(
            "limit",
            &[builder::string(name), builder::int(*max)],
        ));
    }
    for glob in &claims.deny_globs {
        facts.push(builder::fact("deny_glob", &[builder::string(glob)]));
    }
    for regex in &claims.deny_regexes {
        facts.push(builder::fact("deny_regex", &[builder::string(regex)]));
    }
    facts.push(match &claims.approval {
        Approval::NotRequired => builder::fact(
            "approval",
            &[
                builder::string("not_required"),
                builder::string(""),
                builder::string(""),
            ],
        ),
        Approval::Approved {
            approver,
            parameters_digest,
            ..
        } => builder::fact(
            "approval",
            &[
                builder::string("approved"),
                builder::string(approver),
                builder::string(parameters_digest),
            ],
        ),
    });
    if let Approval::Approved { max_uses, .. } = &claims.approval {
        facts.push(builder::fact(
            "approved_uses",
            &[builder::int(i64::from(*max_uses))],
        ));
    }
    facts.extend(child_facts(claims));
    facts.extend(super::http::http_facts(&claims.http_rules));
    facts
}

/// The facts of the child-process and shell claims: `sandbox_level`, `child_limit`, and the
/// shell policy as `shell_default`, `shell_category`, `shell_pattern` and `shell_combination`.
fn child_facts(claims: &GrantClaims) -> Vec<Fact> {
    let mut facts = Vec::new();
    if let Some(level) = &claims.sandbox_level {
        facts.push(builder::fact("sandbox_level", &[builder::string(level)]));
    }
    for (name, max) in &claims.child_limits {
        facts.push(builder::fact(
            "child_limit",
            &[builder::string(name), builder::int(*max)],
        ));
    }
    let Some(shell) = &claims.shell else {
        return facts;
    };
    facts.push(builder::fact(
        "shell_default",
        &[builder::string(shell.default_effect.as_str())],
    ));
    for (category, effect) in &shell.categories {
        facts.push(builder::fact(
            "shell_category",
            &[
                builder::string(category.as_str()),
                builder::string(effect.as_str()),
            ],
        ));
    }
    for (list, patterns) in [
        ("allow", &shell.allow),
        ("ask", &shell.ask),
        ("deny", &shell.deny),
    ] {
        for pattern in patterns {
            facts.push(builder::fact(
                "shell_pattern",
                &[builder::string(list), builder::string(pattern)],
            ));
        }
    }
    for combination in &shell.combinations {
        let categories = combination
            .categories
            .iter()
            .map(|c| builder::string(c.as_str()))
            .collect();
        facts.push(builder::fact(
            "shell_combination",
            &[
                builder::string(combination.effect.as_str()),
                Term::Array(categories),
            ],
        ));
    }
    facts
}

pub(super) fn check_claims(claims: &GrantClaims) -> Result<(), SdkError> {
    if claims.deny_globs.len() != claims.deny_regexes.len() {
        return Err(SdkError::InvalidGrant(
            "every deny glob needs its regex".into(),
        ));
    }
    if let Some((name, _)) = claims
        .limits
        .iter()
        .find(|(name, _)| !LIMIT_NAMES.contains(&name.as_str()))
    {
        return Err(SdkError::InvalidGrant(format!("unknown limit `{name}`")));
    }
    if let Some((name, _)) = claims
        .child_limits
        .iter()
        .find(|(name, _)| !super::CHILD_LIMIT_NAMES.contains(&name.as_str()))
    {
        return Err(SdkError::InvalidGrant(format!(
            "unknown child limit `{name}`"
        )));
    }
    if let Some(level) = claims
        .sandbox_level
        .as_deref()
        .filter(|l| !super::is_sandbox_level(l))
    {
        return Err(SdkError::InvalidGrant(format!(
            "unknown sandbox level `{level}`"
        )));
    }
    Ok(())
}

/// Builds the authority block for `claims` (the caller sets the root key id and signs).
///
/// The block is exactly [`super::authority_block_from_text`]'s (same facts, same checks, same
/// order; a test compares them), built from check templates parsed once instead of parsing
/// Datalog text for every grant.
pub fn authority_block(claims: &GrantClaims) -> Result<BiscuitBuilder, SdkError> {
    check_claims(claims)?;
    let templates = templates()?;
    let invalid = |e: biscuit_auth::error::Token| SdkError::InvalidGrant(e.to_string());
    let mut b = Biscuit::builder();
    for fact in authority_facts(claims) {
        b = b.fact(fact).map_err(invalid)?;
    }
    // `check all` fails when nothing matches, so deny rules and limits are one plain
    // `check if` each (an executor supplies one `resource` and every `param`).
    let holder = builder::bytes(claims.holder.as_bytes());
    let fixed_params = [
        ("exp", builder::date(&claims.expires_at)),
        ("workspace", builder::string(&claims.workspace)),
        ("holder", holder),
    ];
    let holder_key = holder_public_key(&claims.holder)?;
    for template in &templates.fixed {
        b = b
            .check(fill_check(template, &fixed_params, Some(holder_key))?)
            .map_err(invalid)?;
    }
    for (glob, regex) in claims.deny_globs.iter().zip(&claims.deny_regexes) {
        let check = crate::deny::deny_check(glob, regex);
        let params = check
            .params
            .iter()
            .enumerate()
            .map(|(j, value)| {
                let name = DENY_PARAMS.get(j).ok_or_else(|| {
                    SdkError::InvalidGrant(format!(
                        "deny check `{}` has too many parameters",
                        check.body
                    ))
                })?;
                Ok((*name, builder::string(value)))
            })
            .collect::<Result<Vec<_>, SdkError>>()?;
        b = b
            .check(templates.deny(&check.body, &params)?)
            .map_err(invalid)?;
    }
    for (name, max) in &claims.limits {
        let params = [("name", builder::string(name)), ("max", builder::int(*max))];
        b = b
            .check(fill_check(&templates.limit, &params, None)?)
            .map_err(invalid)?;
    }
    match &claims.approval {
        Approval::NotRequired => Ok(b),
        // An approved grant is good for exactly the approved parameters: the executor supplies
        // `param_digest` from the invocation it received (`crate::parameters::digest`).
        Approval::Approved {
            parameters_digest, ..
        } => {
            let params = [("digest", builder::string(parameters_digest))];
            b.check(fill_check(&templates.approval, &params, None)?)
                .map_err(invalid)
        }
    }
}

/// Parameter names of deny-check bodies (`crate::deny::DenyCheck::body`).
pub(super) const DENY_PARAMS: &[&str] = &["p0", "p1", "p2", "p3"];
