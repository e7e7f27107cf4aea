//! The grant vocabulary: every fact and check an authority block carries, in one place.
//!
//! `docs/grant-vocabulary.md` describes the same vocabulary for people who write
//! attenuation blocks by hand (for example with the stock `biscuit` command line).
//! Ambient facts (`time`, `operation`, `resource`, `param`, `param_digest`, `holder_proof`,
//! `served_workspace`) are supplied by the executor for each request and never come
//! from the token.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::SystemTime;

use biscuit_auth::builder::{self, Check, Expression, Fact, Op, Predicate, Rule, Scope, Term};
use biscuit_auth::{Biscuit, BiscuitBuilder};
use ed25519_dalek::VerifyingKey;

use crate::error::SdkError;
use crate::keys;

/// Every numeric parameter a grant can limit. The executor supplies `param(NAME, value)`
/// for each of them on every request (0 where the operation has no such parameter), so a
/// limit check `check if param(NAME, $v), $v <= MAX` always has its fact.
pub const LIMIT_NAMES: &[&str] = &[
    "read_bytes",
    "write_bytes",
    "list_entries",
    "list_depth",
    "search_matches",
    "run_timeout_ms",
    "output_bytes",
];

/// Operations an executor knows. A profile may name others (`net.http`) for later executors.
pub const OPERATIONS: &[&str] = &[
    "fs.read",
    "fs.list",
    "fs.search",
    "fs.write",
    "fs.patch",
    "proc.run",
];

/// What the authority asserts about one grant (its authority block).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantClaims {
    pub grant_id: String,
    pub correlation_id: String,
    pub user: String,
    pub agent: String,
    pub holder: VerifyingKey,
    pub workspace: String,
    pub task: String,
    pub purpose: String,
    pub profile: String,
    /// (operation, workspace-relative path prefix; "" is the whole workspace) for fs operations.
    pub scopes: Vec<(String, String)>,
    /// (command name, argv) for proc.run.
    pub commands: Vec<(String, Vec<String>)>,
    /// (parameter name, maximum) such as ("read_bytes", 1048576).
    pub limits: Vec<(String, i64)>,
    /// Deny globs as written in the profile, and the same as anchored regexes.
    pub deny_globs: Vec<String>,
    pub deny_regexes: Vec<String>,
    pub approval: Approval,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
}

/// Approval state of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// No approval was needed.
    NotRequired,
    /// Approved by `approver` for the parameters whose digest is `parameters_digest`.
    Approved {
        approver: String,
        parameters_digest: String,
    },
}

/// `"src"` → `"src/"`: the directory form of a scope prefix ("" stays "").
pub fn directory_form(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// Checks every grant carries. `{exp}`, `{workspace}`, `{holder}` and `{holder_key}` are parameters.
const AUTHORITY_CHECKS: &str = r#"
check if time($t), $t <= {exp};
check if operation($op), resource($r), scope($op, $p, $d), $r == $p || $r.starts_with($d)
      or operation("proc.run"), resource($r), command($r, $argv);
check if served_workspace($w), $w == {workspace};
check if holder_proof({holder}) or delegation({holder}, $next) trusting {holder_key};
"#;

/// One limit check; `{name}` and `{max}` are parameters.
const LIMIT_CHECK: &str = "check if param({name}, $v), $v <= {max}";

/// The check an approved grant carries: the invocation's parameter digest is the approved one.
const APPROVAL_CHECK: &str = "check if param_digest($d), $d == {digest};";

/// The authority block's checks, parsed from their Datalog text once per process. Minting
/// fills the `{name}` parameters of a copy per grant, so no grant runs the Datalog parser.
struct CheckTemplates {
    /// The four checks of [`AUTHORITY_CHECKS`], in order.
    fixed: Vec<Check>,
    limit: Check,
    approval: Check,
    /// `check if resource($r), BODY` per deny-check body of [`crate::deny::deny_check`]
    /// (a handful of shapes), parsed the first time a shape is minted.
    deny: RwLock<HashMap<String, Check>>,
}

fn parse_check(source: &str) -> Result<Check, SdkError> {
    Check::try_from(source.trim().trim_end_matches(';'))
        .map_err(|e| SdkError::InvalidGrant(format!("check template `{source}`: {e}")))
}

fn templates() -> Result<&'static CheckTemplates, SdkError> {
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
    fn deny(&self, body: &str, params: &[(&str, Term)]) -> Result<Check, SdkError> {
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
fn fill_check(
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
fn authority_facts(claims: &GrantClaims) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::with_capacity(
        12 + claims.scopes.len()
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
        } => builder::fact(
            "approval",
            &[
                builder::string("approved"),
                builder::string(approver),
                builder::string(parameters_digest),
            ],
        ),
    });
    facts
}

fn check_claims(claims: &GrantClaims) -> Result<(), SdkError> {
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
    Ok(())
}

/// Builds the authority block for `claims` (the caller sets the root key id and signs).
///
/// The block is exactly [`authority_block_from_text`]'s (same facts, same checks, same
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
const DENY_PARAMS: &[&str] = &["p0", "p1", "p2", "p3"];

/// The authority block built by parsing its Datalog text with `code_with_params`, as every
/// grant was built before the check templates. Kept as the reference [`authority_block`]
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

/// Reads the authority block's claims back out of a verified token.
pub fn read_claims(token: &Biscuit) -> Result<GrantClaims, SdkError> {
    let mut authorizer = biscuit_auth::AuthorizerBuilder::new()
        .set_limits(biscuit_auth::AuthorizerLimits {
            max_facts: 10_000,
            max_iterations: 100,
            max_time: std::time::Duration::from_millis(100),
        })
        .build(token)
        .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    claims_from_authorizer(&mut authorizer)
}

/// Reads claims with an authorizer already built for the token (trusting only the authority block).
pub fn claims_from_authorizer(
    authorizer: &mut biscuit_auth::Authorizer,
) -> Result<GrantClaims, SdkError> {
    let rules = claim_rules()?;
    let mut claims = ClaimsBuilder::default();
    for (name, rule) in rules {
        let found: Vec<Fact> = authorizer
            .query(rule.clone())
            .map_err(|e| SdkError::InvalidGrant(format!("cannot read `{name}`: {e}")))?;
        for fact in found {
            claims.take(name, fact.predicate.terms)?;
        }
    }
    claims.finish()
}

/// Every claim predicate with its arity, in the order claims are read.
const CLAIM_PREDICATES: [(&str, usize); 17] = [
    ("grant_id", 1),
    ("correlation_id", 1),
    ("user", 1),
    ("agent", 1),
    ("holder", 1),
    ("workspace", 1),
    ("task", 1),
    ("purpose", 1),
    ("profile", 1),
    ("issued_at", 1),
    ("expires_at", 1),
    ("scope", 3),
    ("command", 2),
    ("limit", 2),
    ("deny_glob", 1),
    ("deny_regex", 1),
    ("approval", 3),
];

/// The query rule of each claim (`claim_NAME($v0, ..) <- NAME($v0, ..)`), parsed once per
/// process: parsing 17 rules per grant cost more than running them.
fn claim_rules() -> Result<&'static [(&'static str, Rule)], SdkError> {
    static RULES: OnceLock<Result<Vec<(&'static str, Rule)>, String>> = OnceLock::new();
    RULES
        .get_or_init(|| query_rules("claim", &CLAIM_PREDICATES))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| SdkError::InvalidGrant(e.clone()))
}

/// `HEAD_NAME($v0, ..) <- NAME($v0, ..)` for each predicate and arity, parsed.
pub(crate) fn query_rules(
    head: &str,
    predicates: &[(&'static str, usize)],
) -> Result<Vec<(&'static str, Rule)>, String> {
    predicates
        .iter()
        .map(|(name, arity)| {
            let vars: Vec<String> = (0..*arity).map(|i| format!("$v{i}")).collect();
            let text = format!("{head}_{name}({v}) <- {name}({v})", v = vars.join(", "));
            Rule::try_from(text.as_str())
                .map(|rule| (*name, rule))
                .map_err(|e| format!("query rule `{text}`: {e}"))
        })
        .collect()
}

#[derive(Default)]
struct ClaimsBuilder {
    strings: HashMap<&'static str, String>,
    holder: Option<Vec<u8>>,
    issued_at: Option<SystemTime>,
    expires_at: Option<SystemTime>,
    scopes: Vec<(String, String)>,
    commands: Vec<(String, Vec<String>)>,
    limits: Vec<(String, i64)>,
    deny_globs: Vec<String>,
    deny_regexes: Vec<String>,
    approval: Option<Approval>,
}

fn term_string(term: &Term) -> Result<String, SdkError> {
    match term {
        Term::Str(s) => Ok(s.clone()),
        other => Err(SdkError::InvalidGrant(format!(
            "expected a string, found `{other}`"
        ))),
    }
}

impl ClaimsBuilder {
    fn take(&mut self, name: &'static str, terms: Vec<Term>) -> Result<(), SdkError> {
        match (name, terms.as_slice()) {
            ("holder", [Term::Bytes(b)]) => self.holder = Some(b.clone()),
            ("issued_at", [Term::Date(d)]) => self.issued_at = Some(date(*d)),
            ("expires_at", [Term::Date(d)]) => self.expires_at = Some(date(*d)),
            ("scope", [op, prefix, _]) => {
                self.scopes.push((term_string(op)?, term_string(prefix)?))
            }
            ("command", [n, Term::Array(argv)]) => {
                let argv = argv
                    .iter()
                    .map(term_string)
                    .collect::<Result<Vec<_>, _>>()?;
                self.commands.push((term_string(n)?, argv));
            }
            ("limit", [n, Term::Integer(v)]) => self.limits.push((term_string(n)?, *v)),
            ("deny_glob", [g]) => self.deny_globs.push(term_string(g)?),
            ("deny_regex", [r]) => self.deny_regexes.push(term_string(r)?),
            ("approval", [a, b, c]) => {
                self.approval = Some(if term_string(a)? == "approved" {
                    Approval::Approved {
                        approver: term_string(b)?,
                        parameters_digest: term_string(c)?,
                    }
                } else {
                    Approval::NotRequired
                })
            }
            (n, [t]) => {
                if self.strings.insert(n, term_string(t)?).is_some() {
                    return Err(SdkError::InvalidGrant(format!(
                        "authority block states `{n}` twice"
                    )));
                }
            }
            (n, _) => {
                return Err(SdkError::InvalidGrant(format!(
                    "unexpected shape for `{n}`"
                )))
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<GrantClaims, SdkError> {
        let mut take = |n: &'static str| {
            self.strings
                .remove(n)
                .ok_or_else(|| SdkError::InvalidGrant(format!("authority block lacks `{n}`")))
        };
        let grant_id = take("grant_id")?;
        let correlation_id = take("correlation_id")?;
        let user = take("user")?;
        let agent = take("agent")?;
        let workspace = take("workspace")?;
        let task = take("task")?;
        let purpose = take("purpose")?;
        let profile = take("profile")?;
        let holder = self
            .holder
            .ok_or_else(|| SdkError::InvalidGrant("authority block lacks `holder`".into()))?;
        Ok(GrantClaims {
            grant_id,
            correlation_id,
            user,
            agent,
            holder: keys::verifying_key_from_bytes(&holder)?,
            workspace,
            task,
            purpose,
            profile,
            scopes: self.scopes,
            commands: self.commands,
            limits: self.limits,
            deny_globs: self.deny_globs,
            deny_regexes: self.deny_regexes,
            approval: self.approval.unwrap_or(Approval::NotRequired),
            issued_at: self.issued_at.ok_or_else(|| {
                SdkError::InvalidGrant("authority block lacks `issued_at`".into())
            })?,
            expires_at: self.expires_at.ok_or_else(|| {
                SdkError::InvalidGrant("authority block lacks `expires_at`".into())
            })?,
        })
    }
}

fn date(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::datalog::SymbolTable;
    use biscuit_auth::KeyPair;

    fn claims() -> GrantClaims {
        let issued_at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        GrantClaims {
            grant_id: "01a205d3-7ec5-71b9-9058-8f5efe79b60d".into(),
            correlation_id: "01a205d3-7ec5-71b9-9058-8f5de3d148cb".into(),
            user: "alice".into(),
            agent: "coder-1".into(),
            holder: crate::keys::generate().verifying_key(),
            workspace: "demo".into(),
            task: "interop".into(),
            purpose: "cli test".into(),
            profile: "coding".into(),
            scopes: vec![("fs.read".into(), "".into())],
            commands: vec![],
            limits: vec![],
            deny_globs: vec![],
            deny_regexes: vec![],
            approval: Approval::NotRequired,
            issued_at,
            expires_at: issued_at + std::time::Duration::from_secs(900),
        }
    }

    /// Representative grants: minimal, every deny shape (incl. the regex fallback), every
    /// limit, commands, awkward strings, and approved grants.
    fn cases() -> Vec<(&'static str, GrantClaims)> {
        let mut out = vec![("minimal", claims())];

        let mut c = claims();
        c.scopes = vec![
            ("fs.read".into(), "".into()),
            ("fs.patch".into(), "src".into()),
            ("fs.write".into(), "docs/".into()),
        ];
        c.commands = vec![
            ("test".into(), vec!["sh".into(), "run-tests.sh".into()]),
            ("lint".into(), vec![]),
        ];
        c.limits = LIMIT_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), 1_048_576 + i as i64))
            .collect();
        for glob in [
            ".env",
            "target/**",
            "**/id_rsa",
            "**/*.pem",
            "secrets/*.key",
        ] {
            c.deny_globs.push(glob.to_string());
        }
        c.deny_regexes = vec![
            r"^\.env$".into(),
            r"^target/.*$".into(),
            r"^(?:/?|.*/)id_rsa$".into(),
            r"^(?:/?|.*/)[^/]*\.pem$".into(),
            r"^secrets/[^/]*\.key$".into(),
        ];
        out.push(("deny rules, limits, commands", c.clone()));

        let mut odd = c.clone();
        odd.purpose = "quotes \" and \\ backslashes, {braces}, $dollar, ünïcode".into();
        odd.task = "task with \"quotes\"".into();
        odd.commands = vec![("run \"it\"".into(), vec!["a\\b".into(), "{x}".into()])];
        odd.limits = vec![("read_bytes".into(), 0), ("output_bytes".into(), i64::MAX)];
        out.push(("awkward strings", odd));

        let mut approved = c.clone();
        approved.approval = Approval::Approved {
            approver: "bob".into(),
            parameters_digest: "ab".repeat(32),
        };
        out.push(("approved", approved));

        let mut approved_minimal = claims();
        approved_minimal.approval = Approval::Approved {
            approver: "carol".into(),
            parameters_digest: "0f".repeat(32),
        };
        out.push(("approved, minimal", approved_minimal));
        out
    }

    /// `read_claims` returns facts in Datalog's (set) order.
    fn sorted(mut c: GrantClaims) -> GrantClaims {
        c.scopes.sort();
        c.commands.sort();
        c.limits.sort();
        c.deny_globs.sort();
        c.deny_regexes.sort();
        c
    }

    fn sign(block: BiscuitBuilder, root: &KeyPair, next: &KeyPair) -> Biscuit {
        block
            .root_key_id(7)
            .build_with_key_pair(root, SymbolTable::new(), next)
            .unwrap()
    }

    #[test]
    fn template_block_is_byte_identical_to_the_parsed_text_block() {
        let root = KeyPair::new();
        for (name, claims) in cases() {
            let next = KeyPair::new();
            let next_again = KeyPair::from(&next.private());
            let fast = sign(authority_block(&claims).unwrap(), &root, &next);
            let text = sign(
                authority_block_from_text(&claims).unwrap(),
                &root,
                &next_again,
            );
            assert_eq!(
                fast.print_block_source(0).unwrap(),
                text.print_block_source(0).unwrap(),
                "{name}: Datalog differs"
            );
            // Same symbols in the same order, same facts and checks, same keys: same bytes.
            assert_eq!(
                fast.to_vec().unwrap(),
                text.to_vec().unwrap(),
                "{name}: token bytes differ"
            );
            assert_eq!(
                sorted(read_claims(&fast).unwrap()),
                sorted(claims),
                "{name}: claims"
            );
        }
    }

    #[test]
    fn repeated_and_interleaved_mints_stay_identical() {
        // The deny-template cache and the holder-key cache must not leak between grants.
        let root = KeyPair::new();
        let all = cases();
        for round in 0..3 {
            for (name, claims) in all.iter().rev() {
                let mut claims = claims.clone();
                if round == 1 {
                    claims.holder = crate::keys::generate().verifying_key();
                }
                let next = KeyPair::new();
                let fast = sign(authority_block(&claims).unwrap(), &root, &next);
                let text = sign(
                    authority_block_from_text(&claims).unwrap(),
                    &root,
                    &KeyPair::from(&next.private()),
                );
                assert_eq!(fast.to_vec().unwrap(), text.to_vec().unwrap(), "{name}");
            }
        }
    }

    #[test]
    fn both_constructions_refuse_the_same_bad_claims() {
        let mut unknown_limit = claims();
        unknown_limit.limits = vec![("bogus".into(), 1)];
        let mut unpaired = claims();
        unpaired.deny_globs = vec![".env".into()];
        for bad in [unknown_limit, unpaired] {
            assert!(authority_block(&bad).is_err());
            assert!(authority_block_from_text(&bad).is_err());
        }
    }

    #[test]
    fn the_documented_checks_are_what_a_grant_prints() {
        let (_, c) = cases().swap_remove(1);
        let token = sign(
            authority_block(&c).unwrap(),
            &KeyPair::new(),
            &KeyPair::new(),
        );
        let source = token.print_block_source(0).unwrap();
        for line in [
            r#"check if resource($r), $r != ".env";"#,
            r#"check if resource($r), !$r.starts_with("target/");"#,
            r#"check if resource($r), $r != "id_rsa", !$r.ends_with("/id_rsa");"#,
            r#"check if resource($r), !$r.ends_with(".pem");"#,
            r#"check if resource($r), !$r.matches("^secrets/[^/]*\.key$");"#,
            r#"check if param("read_bytes", $v), $v <= 1048576;"#,
            r#"check if served_workspace($w), $w == "demo";"#,
        ] {
            assert!(source.contains(line), "missing `{line}` in\n{source}");
        }
    }
}
