//! What an `[[allow]]` rule of `context.retrieve` lets a grant read of the sources it names.
//!
//! ```toml
//! [[allow]]
//! id = "claims-kb"
//! operations = ["context.retrieve"]
//! resources = ["claims-kb"]              # context source names (executor `[[context_source]]`)
//! max_classification = "internal"         # or classifications = ["public", "internal"]
//! jurisdictions = ["EU"]                  # required; ["*"] for any
//! max_age = "365d"                        # optional; and/or window_from / window_to (YYYY-MM-DD)
//! max_documents = 10                      # optional (default 20)
//! max_bytes = 65536                       # optional (default 256 KiB)
//! redact = ["mask:email", "drop:iban", "mask:customer_id", "mask:regex:ACCT-[0-9]{6}"]
//! ```
//!
//! Read from the profile's source text after `parse.rs` checked its keys; every error names the
//! rule. An allow rule of `context.retrieve` without classifications or jurisdictions is an error
//! (nothing is readable by default); these keys on any other rule are an error too.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use trust_sdk::duration::parse_duration;
use trust_sdk::vocabulary::context::{
    classification_rank, classifications_up_to, compile_pattern, is_jurisdiction, parse_day,
    Redaction, RedactionMode, RedactionRule, MAX_REGEX_REDACTIONS,
};

use super::child_sections::SectionError;

/// The keys this file reads from `[[allow]]` rules (`parse.rs` accepts them).
pub(super) const CONTEXT_RULE_KEYS: &[&str] = &[
    "classifications",
    "max_classification",
    "jurisdictions",
    "window_from",
    "window_to",
    "max_age",
    "max_documents",
    "max_bytes",
    "redact",
];

/// Documents a grant may take per request when the rule does not say.
pub const DEFAULT_MAX_DOCUMENTS: u32 = 20;
/// Content bytes a grant may take per request when the rule does not say.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024;
/// Ceilings of what a rule may state.
const MAX_DOCUMENTS_CEILING: i64 = 1000;
const MAX_BYTES_CEILING: i64 = 16 * 1024 * 1024;

/// What one allow rule lets a grant read of each source it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRule {
    pub classifications: BTreeSet<String>,
    /// `*` alone: any jurisdiction.
    pub jurisdictions: BTreeSet<String>,
    /// Days since 1970-01-01.
    pub window_from: Option<i64>,
    pub window_to: Option<i64>,
    /// Documents older than this (at minting) are outside the window.
    pub max_age: Option<Duration>,
    pub max_documents: u32,
    pub max_bytes: u64,
    pub redactions: Vec<Redaction>,
}

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    allow: Vec<RawKeys>,
    #[serde(default)]
    deny: Vec<RawKeys>,
    #[serde(default)]
    approval: Vec<RawKeys>,
}

/// An `[[allow]]`/`[[deny]]`/`[[approval]]` entry, only the keys read here (also built by
/// `process_section.rs` from a process step's scope).
#[derive(Deserialize, Default)]
pub(super) struct RawKeys {
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) operations: Vec<String>,
    pub(super) classifications: Option<Vec<String>>,
    pub(super) max_classification: Option<String>,
    pub(super) jurisdictions: Option<Vec<String>>,
    pub(super) window_from: Option<String>,
    pub(super) window_to: Option<String>,
    pub(super) max_age: Option<String>,
    pub(super) max_documents: Option<i64>,
    pub(super) max_bytes: Option<i64>,
    pub(super) redact: Option<Vec<String>>,
}

impl RawKeys {
    pub(super) fn states_any(&self) -> bool {
        self.classifications.is_some()
            || self.max_classification.is_some()
            || self.jurisdictions.is_some()
            || self.window_from.is_some()
            || self.window_to.is_some()
            || self.max_age.is_some()
            || self.max_documents.is_some()
            || self.max_bytes.is_some()
            || self.redact.is_some()
    }
}

/// The context rule of each `[[allow]]` entry, by its index (`None` for a rule of other
/// operations), or every error found.
pub(super) fn parse_context_rules(
    src: &str,
) -> Result<Vec<Option<ContextRule>>, Vec<SectionError>> {
    let sections: Sections =
        toml::from_str(src).map_err(|e| vec![(e.span(), e.message().replace('\n', "; "))])?;
    let mut errors = Vec::new();
    for (kind, rules) in [("deny", &sections.deny), ("approval", &sections.approval)] {
        for (index, raw) in rules.iter().enumerate() {
            if raw.states_any() {
                errors.push((
                    None,
                    format!(
                        "[[{kind}]] entry {}: context keys ({}) belong to [[allow]] rules of `context.retrieve` only",
                        index + 1,
                        CONTEXT_RULE_KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    let mut out = Vec::with_capacity(sections.allow.len());
    for (index, raw) in sections.allow.iter().enumerate() {
        let within = match &raw.id {
            Some(id) => format!("[[allow]] `{id}`"),
            None => format!("[[allow]] entry {}", index + 1),
        };
        let is_context = raw.operations.iter().any(|o| o == "context.retrieve");
        if !is_context {
            if raw.states_any() {
                errors.push((
                    None,
                    format!("{within}: context keys belong to [[allow]] rules of `context.retrieve` only"),
                ));
            }
            out.push(None);
            continue;
        }
        if raw.operations.len() != 1 {
            errors.push((
                None,
                format!("{within}: a `context.retrieve` rule names no other operation"),
            ));
        }
        match context_rule(raw, &within) {
            Ok(rule) => out.push(Some(rule)),
            Err(mut e) => {
                errors.append(&mut e);
                out.push(None);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The context rule `raw` states, or every error (each prefixed with `within`).
pub(super) fn context_rule(raw: &RawKeys, within: &str) -> Result<ContextRule, Vec<SectionError>> {
    let mut errors: Vec<SectionError> = Vec::new();
    let mut err = |m: String| errors.push((None, format!("{within}: {m}")));
    let classifications: BTreeSet<String> = match (&raw.classifications, &raw.max_classification) {
        (Some(_), Some(_)) => {
            err("use either `classifications` or `max_classification`, not both".into());
            BTreeSet::new()
        }
        (Some(list), None) => {
            for c in list.iter().filter(|c| classification_rank(c).is_none()) {
                err(format!(
                    "unknown classification `{c}` (public, internal, confidential, restricted)"
                ));
            }
            list.iter().cloned().collect()
        }
        (None, Some(max)) => match classifications_up_to(max) {
            Some(list) => list.into_iter().collect(),
            None => {
                err(format!(
                    "unknown classification `{max}` (public, internal, confidential, restricted)"
                ));
                BTreeSet::new()
            }
        },
        (None, None) => {
            err("a `context.retrieve` rule needs `classifications` or `max_classification`".into());
            BTreeSet::new()
        }
    };
    if raw.classifications.as_ref().is_some_and(Vec::is_empty) {
        err("`classifications` must not be empty".into());
    }
    let jurisdictions: BTreeSet<String> = match &raw.jurisdictions {
        Some(list) if !list.is_empty() => {
            for j in list.iter().filter(|j| !is_jurisdiction(j)) {
                err(format!(
                    "jurisdiction `{j}` must be letters, digits and `-` (at most 32), or `*`"
                ));
            }
            list.iter().cloned().collect()
        }
        _ => {
            err("a `context.retrieve` rule needs `jurisdictions` (`[\"*\"]` for any)".into());
            BTreeSet::new()
        }
    };
    let mut day = |key: &str, text: &Option<String>| {
        text.as_ref().and_then(|t| {
            let parsed = parse_day(t);
            if parsed.is_none() {
                err(format!("`{key}` `{t}` is not a YYYY-MM-DD date"));
            }
            parsed
        })
    };
    let window_from = day("window_from", &raw.window_from);
    let window_to = day("window_to", &raw.window_to);
    let max_age = raw.max_age.as_ref().and_then(|t| match parse_duration(t) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            err(format!("`max_age` `{t}` must be above zero"));
            None
        }
        Err(e) => {
            err(format!("`max_age` `{t}`: {e}"));
            None
        }
    });
    let max_documents = match raw.max_documents {
        None => DEFAULT_MAX_DOCUMENTS,
        Some(n) if (1..=MAX_DOCUMENTS_CEILING).contains(&n) => u32::try_from(n).unwrap_or(1),
        Some(n) => {
            err(format!(
                "`max_documents` {n} must be between 1 and {MAX_DOCUMENTS_CEILING}"
            ));
            1
        }
    };
    let max_bytes = match raw.max_bytes {
        None => DEFAULT_MAX_BYTES,
        Some(n) if (1..=MAX_BYTES_CEILING).contains(&n) => u64::try_from(n).unwrap_or(1),
        Some(n) => {
            err(format!(
                "`max_bytes` {n} must be between 1 and {MAX_BYTES_CEILING}"
            ));
            1
        }
    };
    let mut redactions: Vec<Redaction> = Vec::new();
    for text in raw.redact.iter().flatten() {
        match parse_redaction(text) {
            Some(r) if redactions.iter().any(|o| o.rule == r.rule) => {
                err(format!("redaction rule of `{text}` is listed twice"))
            }
            Some(r) => {
                if let RedactionRule::Regex(pattern) = &r.rule {
                    if let Err(e) = compile_pattern(pattern) {
                        err(format!("redaction `{text}`: {e}"));
                    }
                }
                redactions.push(r);
            }
            None => err(format!(
                "redaction `{text}` must be `mask:` or `drop:` then `email`, `iban`, `customer_id` or `regex:PATTERN`"
            )),
        }
    }
    let regexes = redactions
        .iter()
        .filter(|r| matches!(r.rule, RedactionRule::Regex(_)))
        .count();
    if regexes > MAX_REGEX_REDACTIONS {
        err(format!(
            "at most {MAX_REGEX_REDACTIONS} regex redactions, not {regexes}"
        ));
    }
    if errors.is_empty() {
        Ok(ContextRule {
            classifications,
            jurisdictions,
            window_from,
            window_to,
            max_age,
            max_documents,
            max_bytes,
            redactions,
        })
    } else {
        Err(errors)
    }
}

/// `mask:RULE` or `drop:RULE`.
fn parse_redaction(text: &str) -> Option<Redaction> {
    let (mode, rule) = text.split_once(':')?;
    Some(Redaction {
        mode: RedactionMode::parse(mode)?,
        rule: RedactionRule::parse(rule)?,
    })
}

/// Sets the context rule of each of `allow` (parsed in the same order from the same text), or
/// reports every error through `report`.
pub(super) fn attach(
    src: &str,
    allow: &mut [super::Rule],
    mut report: impl FnMut(Option<std::ops::Range<usize>>, String),
) {
    match parse_context_rules(src) {
        Ok(rules) if rules.len() == allow.len() => {
            for (rule, context) in allow.iter_mut().zip(rules) {
                rule.context = context;
            }
        }
        // A rule that did not parse is reported by `parse.rs`; the profile fails either way.
        Ok(_) => {}
        Err(errors) => {
            for (span, message) in errors {
                report(span, message);
            }
        }
    }
}
