//! The shell policy and the decision: per-category effects, `Bash(...)` patterns, combinations.
//!
//! Precedence: deny over approval-required over allow. Every simple command must be allowed,
//! by an allow pattern (which covers only what its program does by nature, [`Source::Program`])
//! or by the effects of its categories; arguments, redirections, wrappers, assignments and code
//! are judged by category even when a pattern matches. Among verdicts of the winning effect the
//! first in this order names the rule: `deny:Bash(...)`, `combination:a+b`, `unclassified`,
//! `category:c` / `pattern:Bash(...)`, `ask:Bash(...)`, `no_boundary`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::categories::{Category, Source};
use super::parse::{classify, Classification};
use super::ShellError;

/// What the policy says about a command (ordered: allow < approval required < deny).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    #[serde(alias = "approval", alias = "ask")]
    ApprovalRequired,
    Deny,
}

impl Effect {
    /// The stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::ApprovalRequired => "approval_required",
            Effect::Deny => "deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = ShellError;

    /// Accepts `allow`, `deny`, `approval_required` and the shorthands `approval` and `ask`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Effect::Allow),
            "approval_required" | "approval" | "ask" => Ok(Effect::ApprovalRequired),
            "deny" => Ok(Effect::Deny),
            _ => Err(ShellError::UnknownEffect(s.to_string())),
        }
    }
}

/// Categories that are dangerous together in one command, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Combination {
    pub categories: Vec<Category>,
    pub effect: Effect,
}

impl Combination {
    /// A combination that is denied.
    pub fn deny(categories: &[Category]) -> Combination {
        Combination {
            categories: categories.to_vec(),
            effect: Effect::Deny,
        }
    }

    /// The rule id, e.g. `combination:secret_access+network`.
    pub fn rule(&self) -> String {
        let names: Vec<&str> = self.categories.iter().map(Category::as_str).collect();
        format!("combination:{}", names.join("+"))
    }
}

/// The shell part of a grant: what `shell.exec` may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShellPolicy {
    /// Effect per category; categories not listed take `default_effect`.
    pub categories: BTreeMap<Category, Effect>,
    pub default_effect: Effect,
    /// Claude Code permission forms: `Bash(cargo test:*)` (prefix), `Bash(npm run build)`
    /// (exact), `Bash(git diff *)` (`*` wildcard); the `Bash(...)` wrapper is optional.
    pub allow: Vec<String>,
    pub ask: Vec<String>,
    pub deny: Vec<String>,
    /// Dangerous combinations, checked over the whole command.
    pub combinations: Vec<Combination>,
}

impl Default for ShellPolicy {
    /// Reads allowed; secrets, exfiltration, remote shells, destruction, privilege and
    /// obfuscation denied; everything else needs approval; the dangerous combinations denied.
    fn default() -> Self {
        use Category as C;
        let mut categories = BTreeMap::new();
        categories.insert(C::Read, Effect::Allow);
        for c in [
            C::SecretAccess,
            C::Credential,
            C::Exfiltration,
            C::RemoteShell,
            C::Destructive,
            C::Privilege,
            C::Obfuscation,
        ] {
            categories.insert(c, Effect::Deny);
        }
        ShellPolicy {
            categories,
            default_effect: Effect::ApprovalRequired,
            allow: Vec::new(),
            ask: Vec::new(),
            deny: Vec::new(),
            combinations: ShellPolicy::dangerous_combinations(),
        }
    }
}

impl ShellPolicy {
    /// The combinations issue 12 denies by default.
    pub fn dangerous_combinations() -> Vec<Combination> {
        use Category as C;
        vec![
            Combination::deny(&[C::Credential, C::Publish]),
            Combination::deny(&[C::SecretAccess, C::Network]),
            Combination::deny(&[C::Download, C::Execution]),
            Combination::deny(&[C::EncodedPayload, C::Execution]),
            Combination::deny(&[C::Install, C::Persistence]),
        ]
    }

    /// A coding profile that allows `cargo test` and reads in the working tree (the profile of
    /// `risky-commands.tsv`). Install together with persistence needs approval rather than a
    /// denial there, as that fixture expects.
    pub fn coding_default() -> Self {
        let mut policy = ShellPolicy {
            allow: vec!["Bash(cargo test:*)".to_string()],
            ..ShellPolicy::default()
        };
        for c in &mut policy.combinations {
            if c.categories == [Category::Install, Category::Persistence] {
                c.effect = Effect::ApprovalRequired;
            }
        }
        policy
    }

    /// The same policy with its pattern lists and combinations in one order (sorted,
    /// duplicates dropped): how a grant states it, since Datalog keeps facts as a set.
    pub fn canonical(mut self) -> Self {
        for list in [&mut self.allow, &mut self.ask, &mut self.deny] {
            list.sort();
            list.dedup();
        }
        self.combinations.sort_by_key(Combination::rule);
        self.combinations.dedup();
        self
    }

    fn effect_of(&self, category: Category) -> Effect {
        self.categories
            .get(&category)
            .copied()
            .unwrap_or(self.default_effect)
    }
}

/// What [`decide`] concluded and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShellDecision {
    pub effect: Effect,
    /// The deciding rule: `unparsable`, `unclassified`, `deny:Bash(...)`, `combination:a+b`,
    /// `category:c`, `pattern:Bash(...)`, `ask:Bash(...)` or `no_boundary`.
    pub rule: String,
    pub categories: BTreeSet<Category>,
    pub reason: String,
}

/// Parses and decides in one step; anything that cannot be parsed is denied (`unparsable`).
pub fn evaluate(command: &str, policy: &ShellPolicy) -> ShellDecision {
    match classify(command) {
        Ok(classification) => decide(&classification, policy),
        Err(error) => ShellDecision {
            effect: Effect::Deny,
            rule: "unparsable".to_string(),
            categories: BTreeSet::new(),
            reason: error.to_string(),
        },
    }
}

/// Applies `policy` to a classification.
pub fn decide(classification: &Classification, policy: &ShellPolicy) -> ShellDecision {
    let mut verdicts: Vec<(Effect, String, String)> = Vec::new();
    let commands = &classification.commands;
    let texts: Vec<String> = commands.iter().map(|c| c.text()).collect();
    for (text, cmd) in texts.iter().zip(commands) {
        if cmd.argv.is_empty() {
            continue;
        }
        for p in &policy.deny {
            if pattern_matches(p, text) {
                verdicts.push((
                    Effect::Deny,
                    format!("deny:{p}"),
                    format!("`{text}` matches `{p}`"),
                ));
            }
        }
    }
    for combination in &policy.combinations {
        if !combination.categories.is_empty()
            && combination
                .categories
                .iter()
                .all(|c| classification.has(*c))
        {
            let names: Vec<&str> = combination
                .categories
                .iter()
                .map(Category::as_str)
                .collect();
            verdicts.push((
                combination.effect,
                combination.rule(),
                format!("the command combines {}", names.join(" and ")),
            ));
        }
    }
    for u in &classification.unresolved {
        verdicts.push((Effect::Deny, "unclassified".to_string(), u.clone()));
    }
    let allowed_by: Vec<Option<&String>> = texts
        .iter()
        .zip(commands)
        .map(|(t, c)| {
            if c.argv.is_empty() {
                None
            } else {
                policy.allow.iter().find(|p| pattern_matches(p, t))
            }
        })
        .collect();
    for e in &classification.evidence {
        let pattern = e.command.and_then(|i| allowed_by.get(i).copied().flatten());
        match pattern {
            Some(p) if e.source == Source::Program => {
                verdicts.push((Effect::Allow, format!("pattern:{p}"), e.reason.clone()));
            }
            _ => verdicts.push((
                policy.effect_of(e.category),
                format!("category:{}", e.category),
                e.reason.clone(),
            )),
        }
    }
    for (text, cmd) in texts.iter().zip(commands) {
        if cmd.argv.is_empty() {
            continue;
        }
        for p in &policy.ask {
            if pattern_matches(p, text) {
                verdicts.push((
                    Effect::ApprovalRequired,
                    format!("ask:{p}"),
                    format!("`{text}` matches `{p}`"),
                ));
            }
        }
    }
    for (p, text) in allowed_by.iter().zip(&texts) {
        if let Some(p) = p {
            verdicts.push((
                Effect::Allow,
                format!("pattern:{p}"),
                format!("`{text}` matches `{p}`"),
            ));
        }
    }
    let effect = verdicts.iter().map(|v| v.0).max().unwrap_or(Effect::Allow);
    let (rule, reason) = verdicts
        .into_iter()
        .find(|v| v.0 == effect)
        .map(|v| (v.1, v.2))
        .unwrap_or_else(|| {
            (
                "no_boundary".to_string(),
                "the command crosses no boundary".to_string(),
            )
        });
    ShellDecision {
        effect,
        rule,
        categories: classification.categories.clone(),
        reason,
    }
}

/// Matches a Claude Code `Bash(...)` permission form against a command's text.
pub(super) fn pattern_matches(pattern: &str, text: &str) -> bool {
    let inner = pattern.trim();
    let inner = match inner.strip_prefix("Bash") {
        Some("") => return true,
        Some(rest) => match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            Some(inner) => inner,
            None => return false,
        },
        None => inner,
    };
    let inner = inner.trim();
    if inner == "*" || inner.is_empty() {
        return true;
    }
    if let Some(prefix) = inner.strip_suffix(":*") {
        return text == prefix || text.starts_with(&format!("{prefix} "));
    }
    if inner.contains('*') {
        return star_match(inner, text);
    }
    text == inner
}

/// `*` matches any run of characters; nothing else is special.
fn star_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return text.is_empty(),
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}
