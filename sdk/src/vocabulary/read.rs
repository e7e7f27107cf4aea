//! Reads a grant's claims back out of a verified token (trusting only the authority block).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::SystemTime;

use biscuit_auth::builder::{Fact, Rule, Term};
use biscuit_auth::Biscuit;

use super::{Approval, GrantClaims};
use crate::error::SdkError;
use crate::keys;
use crate::shell::{Category, Combination, Effect, ShellPolicy};
use crate::structure::Structure;

/// Reads the authority block's claims back out of a verified token: its facts as written,
/// without evaluating any block's Datalog (an appended block cannot add or hide a claim).
pub fn read_claims(token: &Biscuit) -> Result<GrantClaims, SdkError> {
    claims_from_structure(&Structure::read(token)?)
}

/// [`read_claims`] over a token already decoded.
pub fn claims_from_structure(structure: &Structure) -> Result<GrantClaims, SdkError> {
    let authority = structure.authority()?;
    let mut claims = ClaimsBuilder::default();
    for (name, arity) in CLAIM_PREDICATES {
        for fact in authority.facts_named(&[(name, arity)])? {
            claims.take(name, fact.predicate.terms)?;
        }
    }
    claims.finish()
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
const CLAIM_PREDICATES: [(&str, usize); 26] = [
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
    ("sandbox_level", 1),
    ("child_limit", 2),
    ("shell_default", 1),
    ("shell_category", 2),
    ("shell_pattern", 2),
    ("shell_combination", 2),
    ("approved_uses", 1),
    ("http_method", 2),
    ("http_path", 2),
];

/// The query rule of each claim (`claim_NAME($v0, ..) <- NAME($v0, ..)`), parsed once per
/// process: parsing 18 rules per grant cost more than running them.
fn claim_rules() -> Result<&'static [(&'static str, Rule)], SdkError> {
    static RULES: OnceLock<Result<Vec<(&'static str, Rule)>, String>> = OnceLock::new();
    RULES
        .get_or_init(|| query_rules("claim", &CLAIM_PREDICATES))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| SdkError::InvalidGrant(e.clone()))
}

/// `HEAD_NAME($v0, ..) <- NAME($v0, ..)` for each predicate and arity, parsed.
fn query_rules(
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
    sandbox_level: Option<String>,
    child_limits: Vec<(String, i64)>,
    shell_default: Option<String>,
    shell_categories: Vec<(String, String)>,
    shell_patterns: Vec<(String, String)>,
    shell_combinations: Vec<(String, Vec<String>)>,
    approved_uses: Option<u32>,
    http_rules: Vec<super::HttpRule>,
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
            ("sandbox_level", [l]) => set_once(&mut self.sandbox_level, "sandbox_level", l)?,
            ("child_limit", [n, Term::Integer(v)]) => self.child_limits.push((term_string(n)?, *v)),
            ("shell_default", [e]) => set_once(&mut self.shell_default, "shell_default", e)?,
            ("shell_category", [c, e]) => self
                .shell_categories
                .push((term_string(c)?, term_string(e)?)),
            ("shell_pattern", [list, p]) => self
                .shell_patterns
                .push((term_string(list)?, term_string(p)?)),
            ("shell_combination", [e, Term::Array(cs)]) => {
                let categories = cs.iter().map(term_string).collect::<Result<Vec<_>, _>>()?;
                self.shell_combinations.push((term_string(e)?, categories));
            }
            ("approved_uses", [Term::Integer(n)]) => {
                let n = u32::try_from(*n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    SdkError::InvalidGrant(format!("`approved_uses({n})` is not a positive count"))
                })?;
                if self.approved_uses.replace(n).is_some() {
                    return Err(SdkError::InvalidGrant(
                        "authority block states `approved_uses` twice".into(),
                    ));
                }
            }
            ("deny_regex", [r]) => self.deny_regexes.push(term_string(r)?),
            ("http_method", [d, m]) => super::http::take_http_fact(
                &mut self.http_rules,
                term_string(d)?,
                term_string(m)?,
                true,
            ),
            ("http_path", [d, p]) => super::http::take_http_fact(
                &mut self.http_rules,
                term_string(d)?,
                term_string(p)?,
                false,
            ),
            ("approval", [a, b, c]) => {
                self.approval = Some(if term_string(a)? == "approved" {
                    Approval::Approved {
                        approver: term_string(b)?,
                        parameters_digest: term_string(c)?,
                        max_uses: 1,
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
        let approval = match self.approval.take() {
            Some(Approval::Approved {
                approver,
                parameters_digest,
                ..
            }) => Approval::Approved {
                approver,
                parameters_digest,
                max_uses: self.approved_uses.unwrap_or(1),
            },
            _ => Approval::NotRequired,
        };
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
        let shell = shell_policy(
            self.shell_default,
            self.shell_categories,
            self.shell_patterns,
            self.shell_combinations,
        )?;
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
            shell,
            sandbox_level: self.sandbox_level,
            child_limits: self.child_limits,
            http_rules: self.http_rules,
            approval,
            issued_at: self.issued_at.ok_or_else(|| {
                SdkError::InvalidGrant("authority block lacks `issued_at`".into())
            })?,
            expires_at: self.expires_at.ok_or_else(|| {
                SdkError::InvalidGrant("authority block lacks `expires_at`".into())
            })?,
        })
    }
}

fn set_once(slot: &mut Option<String>, name: &str, term: &Term) -> Result<(), SdkError> {
    if slot.replace(term_string(term)?).is_some() {
        return Err(SdkError::InvalidGrant(format!(
            "authority block states `{name}` twice"
        )));
    }
    Ok(())
}

/// The shell policy stated by the shell facts; `None` without `shell_default` (then no other
/// shell fact may appear). Unknown categories or effects make the grant invalid.
fn shell_policy(
    default: Option<String>,
    categories: Vec<(String, String)>,
    patterns: Vec<(String, String)>,
    combinations: Vec<(String, Vec<String>)>,
) -> Result<Option<ShellPolicy>, SdkError> {
    let invalid = |e: crate::shell::ShellError| SdkError::InvalidGrant(e.to_string());
    let Some(default) = default else {
        if categories.is_empty() && patterns.is_empty() && combinations.is_empty() {
            return Ok(None);
        }
        return Err(SdkError::InvalidGrant(
            "shell facts without `shell_default`".into(),
        ));
    };
    let mut policy = ShellPolicy {
        default_effect: default.parse::<Effect>().map_err(invalid)?,
        categories: Default::default(),
        allow: Vec::new(),
        ask: Vec::new(),
        deny: Vec::new(),
        combinations: Vec::new(),
    };
    for (category, effect) in categories {
        let category = category.parse::<Category>().map_err(invalid)?;
        let effect = effect.parse::<Effect>().map_err(invalid)?;
        if policy.categories.insert(category, effect).is_some() {
            return Err(SdkError::InvalidGrant(format!(
                "shell category `{category}` stated twice"
            )));
        }
    }
    for (list, pattern) in patterns {
        match list.as_str() {
            "allow" => policy.allow.push(pattern),
            "ask" => policy.ask.push(pattern),
            "deny" => policy.deny.push(pattern),
            other => {
                return Err(SdkError::InvalidGrant(format!(
                    "unknown shell pattern list `{other}`"
                )))
            }
        }
    }
    for (effect, names) in combinations {
        let categories = names
            .iter()
            .map(|n| n.parse::<Category>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        policy.combinations.push(Combination {
            categories,
            effect: effect.parse::<Effect>().map_err(invalid)?,
        });
    }
    // Datalog returns facts as a set: state the lists in one order on both sides.
    Ok(Some(policy.canonical()))
}

fn date(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}
