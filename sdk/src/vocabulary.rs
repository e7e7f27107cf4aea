//! The grant vocabulary: every fact and check an authority block carries, in one place.
//!
//! `docs/grant-vocabulary.md` describes the same vocabulary for people who write
//! attenuation blocks by hand (for example with the stock `biscuit` command line).
//! Ambient facts (`time`, `operation`, `resource`, `param`, `param_digest`, `holder_proof`,
//! `served_workspace`) are supplied by the executor for each request and never come
//! from the token.

use std::collections::HashMap;
use std::time::SystemTime;

use biscuit_auth::builder::{self, Fact, Term};
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

/// Builds the authority block for `claims` (the caller sets the root key id and signs).
pub fn authority_block(claims: &GrantClaims) -> Result<BiscuitBuilder, SdkError> {
    let mut b = Biscuit::builder();
    let mut facts: Vec<Fact> = vec![
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
    ];
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
    for fact in facts {
        b = b
            .fact(fact)
            .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
    }
    // `check all` fails when nothing matches, so deny rules and limits are one plain
    // `check if` each (an executor supplies one `resource` and every `param`).
    let mut code = String::from(AUTHORITY_CHECKS);
    let mut params = HashMap::new();
    if claims.deny_globs.len() != claims.deny_regexes.len() {
        return Err(SdkError::InvalidGrant(
            "every deny glob needs its regex".into(),
        ));
    }
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
        if !LIMIT_NAMES.contains(&name.as_str()) {
            return Err(SdkError::InvalidGrant(format!("unknown limit `{name}`")));
        }
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
        // An approved grant is good for exactly the approved parameters: the executor supplies
        // `param_digest` from the invocation it received (`crate::parameters::digest`).
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

/// The check an approved grant carries: the invocation's parameter digest is the approved one.
const APPROVAL_CHECK: &str = "check if param_digest($d), $d == {digest};";

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
    let mut all = Vec::new();
    for name in [
        "grant_id",
        "correlation_id",
        "user",
        "agent",
        "holder",
        "workspace",
        "task",
        "purpose",
        "profile",
        "issued_at",
        "expires_at",
        "scope",
        "command",
        "limit",
        "deny_glob",
        "deny_regex",
        "approval",
    ] {
        let rule = authority_rule(name);
        let found: Vec<Fact> = authorizer
            .query(rule.as_str())
            .map_err(|e| SdkError::InvalidGrant(format!("cannot read `{name}`: {e}")))?;
        all.push((name, found));
    }
    let mut claims = ClaimsBuilder::default();
    for (name, facts) in all {
        for fact in facts {
            claims.take(name, fact.predicate.terms)?;
        }
    }
    claims.finish()
}

fn authority_rule(name: &str) -> String {
    let arity = match name {
        "scope" => 3,
        "approval" => 3,
        "command" | "limit" => 2,
        _ => 1,
    };
    let vars: Vec<String> = (0..arity).map(|i| format!("$v{i}")).collect();
    format!("claim_{name}({v}) <- {name}({v})", v = vars.join(", "))
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
