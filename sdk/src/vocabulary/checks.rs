//! The authority block's checks: their Datalog templates, parsed once, and what each position enforces.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use biscuit_auth::builder::{Check, Expression, Op, Predicate, Rule, Scope, Term};

use super::GrantClaims;
use crate::error::SdkError;

/// Checks every grant carries. `{exp}`, `{workspace}`, `{holder}` and `{holder_key}` are parameters.
pub(super) const AUTHORITY_CHECKS: &str = r#"
check if time($t), $t <= {exp};
check if operation($op), resource($r), scope($op, $p, $d), $r == $p || $r.starts_with($d)
      or operation("proc.run"), resource($r), command($r, $argv);
check if served_workspace($w), $w == {workspace};
check if holder_proof({holder}) or delegation({holder}, $next) trusting {holder_key};
"#;

/// One limit check; `{name}` and `{max}` are parameters.
const LIMIT_CHECK: &str = "check if param({name}, $v), $v <= {max}";

/// The check an approved grant carries: the invocation's parameter digest is the approved one.
pub(super) const APPROVAL_CHECK: &str = "check if param_digest($d), $d == {digest};";

/// The authority block's checks, parsed from their Datalog text once per process. Minting
/// fills the `{name}` parameters of a copy per grant, so no grant runs the Datalog parser.
pub(super) struct CheckTemplates {
    /// The four checks of [`AUTHORITY_CHECKS`], in order.
    pub(super) fixed: Vec<Check>,
    pub(super) limit: Check,
    pub(super) approval: Check,
    /// `check if resource($r), BODY` per deny-check body of [`crate::deny::deny_check`]
    /// (a handful of shapes), parsed the first time a shape is minted.
    deny: RwLock<HashMap<String, Check>>,
}

fn parse_check(source: &str) -> Result<Check, SdkError> {
    Check::try_from(source.trim().trim_end_matches(';'))
        .map_err(|e| SdkError::InvalidGrant(format!("check template `{source}`: {e}")))
}

pub(super) fn templates() -> Result<&'static CheckTemplates, SdkError> {
    static TEMPLATES: OnceLock<Result<CheckTemplates, String>> = OnceLock::new();
    let parsed = TEMPLATES.get_or_init(|| {
        let make = || -> Result<CheckTemplates, SdkError> {
            let fixed = AUTHORITY_CHECKS
                .split(';')
                .filter(|c| !c.trim().is_empty())
                .map(parse_check)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CheckTemplates {
                fixed,
                limit: parse_check(LIMIT_CHECK)?,
                approval: parse_check(APPROVAL_CHECK)?,
                deny: RwLock::new(HashMap::new()),
            })
        };
        make().map_err(|e| e.to_string())
    });
    parsed
        .as_ref()
        .map_err(|e| SdkError::InvalidGrant(e.clone()))
}

impl CheckTemplates {
    /// The check for deny-check `body` with `params` (`p0`, `p1`, ...) filled in.
    pub(super) fn deny(&self, body: &str, params: &[(&str, Term)]) -> Result<Check, SdkError> {
        let poisoned = || SdkError::InvalidGrant("deny template cache poisoned".into());
        if let Some(template) = self.deny.read().map_err(|_| poisoned())?.get(body) {
            return fill_check(template, params, None);
        }
        let template = parse_check(&format!("check if resource($r), {body}"))?;
        let check = fill_check(&template, params, None);
        self.deny
            .write()
            .map_err(|_| poisoned())?
            .insert(body.to_string(), template);
        check
    }
}

/// A copy of `template` with every `{name}` parameter replaced by its term (and the scope
/// parameter `{holder_key}` by `key`). The copy carries no parameter table, so biscuit
/// converts it as written; a parameter without a value is an error, as in `code_with_params`.
pub(super) fn fill_check(
    template: &Check,
    params: &[(&str, Term)],
    key: Option<biscuit_auth::PublicKey>,
) -> Result<Check, SdkError> {
    let term = |t: &Term| -> Result<Term, SdkError> {
        match t {
            Term::Parameter(name) => params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| SdkError::InvalidGrant(format!("no value for `{{{name}}}`"))),
            other => Ok(other.clone()),
        }
    };
    fn op(o: &Op, term: &dyn Fn(&Term) -> Result<Term, SdkError>) -> Result<Op, SdkError> {
        Ok(match o {
            Op::Value(t) => Op::Value(term(t)?),
            Op::Closure(args, ops) => Op::Closure(
                args.clone(),
                ops.iter().map(|o| op(o, term)).collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
    let mut queries = Vec::with_capacity(template.queries.len());
    for rule in &template.queries {
        let body = rule
            .body
            .iter()
            .map(|p| {
                Ok(Predicate {
                    name: p.name.clone(),
                    terms: p.terms.iter().map(term).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<Vec<_>, SdkError>>()?;
        let expressions = rule
            .expressions
            .iter()
            .map(|e| {
                Ok(Expression {
                    ops: e
                        .ops
                        .iter()
                        .map(|o| op(o, &term))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<Vec<_>, SdkError>>()?;
        let scopes = rule
            .scopes
            .iter()
            .map(|s| match (s, key) {
                (Scope::Parameter(name), Some(key)) if name == "holder_key" => {
                    Ok(Scope::PublicKey(key))
                }
                (Scope::Parameter(name), _) => {
                    Err(SdkError::InvalidGrant(format!("no value for `{{{name}}}`")))
                }
                (other, _) => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>, SdkError>>()?;
        queries.push(Rule {
            head: rule.head.clone(),
            body,
            expressions,
            parameters: None,
            scopes,
            scope_parameters: None,
        });
    }
    Ok(Check {
        queries,
        kind: template.kind.clone(),
    })
}

/// What one check of an authority block enforces. [`super::authority_block`] writes the checks
/// in this order: the four fixed checks of `AUTHORITY_CHECKS`, one per deny rule, one per
/// limit, then the approval check of an approved grant. An executor names a failed check by its
/// position, never by matching its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorityCheck {
    /// `check if time($t), $t <= EXP`.
    Expiry,
    /// The operation and resource are within a scope or a named command.
    Scope,
    /// The executor serves the grant's workspace.
    Workspace,
    /// The request was proved by the holder (or delegated by it).
    HolderBinding,
    /// The resource matches the deny rule at this index of `deny_globs`.
    Deny(usize),
    /// The parameter limit at this index of `limits`.
    Limit(usize),
    /// The invocation's parameter digest is the approved one.
    ApprovedParameters,
}

/// The check at `index` of the authority block minted for `claims`; `None` past the last one.
pub fn authority_check_at(index: usize, claims: &GrantClaims) -> Option<AuthorityCheck> {
    const FIXED: [AuthorityCheck; 4] = [
        AuthorityCheck::Expiry,
        AuthorityCheck::Scope,
        AuthorityCheck::Workspace,
        AuthorityCheck::HolderBinding,
    ];
    if let Some(fixed) = FIXED.get(index) {
        return Some(*fixed);
    }
    let index = index - FIXED.len();
    let denies = claims.deny_globs.len();
    if index < denies {
        return Some(AuthorityCheck::Deny(index));
    }
    let index = index - denies;
    if index < claims.limits.len() {
        return Some(AuthorityCheck::Limit(index));
    }
    let index = index - claims.limits.len();
    match (&claims.approval, index) {
        (super::Approval::Approved { .. }, 0) => Some(AuthorityCheck::ApprovedParameters),
        _ => None,
    }
}
