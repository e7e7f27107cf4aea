//! Governed context retrieval: what a grant may read of a context source (`context.retrieve`).
//!
//! Facts, each keyed by the source (the `context.retrieve` scope's resource):
//!
//! - `context_classification(SOURCE, CLASS)`: a classification the grant may read
//!   ([`CLASSIFICATIONS`], ordered `public < internal < confidential < restricted`);
//! - `context_jurisdiction(SOURCE, J)`: a jurisdiction it may read (`"*"`: any);
//! - `context_window(SOURCE, FROM, TO)`: documents dated within `[FROM, TO]` (dates, midnight UTC);
//! - `context_limit(SOURCE, "documents" | "bytes", N)`: at most N documents / content bytes;
//! - `context_redact(SOURCE, RULE, MODE)`: RULE (`email`, `iban`, `customer_id` or
//!   `regex:PATTERN`) applied in MODE (`mask` or `drop`) to everything returned.
//!
//! The authority block states them; every appended block (an attenuation written by the stock
//! `biscuit` CLI, a delegation block) may state the same facts, and the executor combines the
//! blocks so that a block can only tighten: classifications and jurisdictions intersect, the
//! window shrinks, limits take the minimum and redactions add up. Facts of an appended block
//! about a source the authority block does not grant are ignored; a malformed one refuses the
//! grant (a narrowing is never silently dropped). [`effective_grants`] does this combination.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{self, Fact, Term};
use serde::{Deserialize, Serialize};

use crate::error::SdkError;
use crate::structure::{BlockContent, Structure};

/// The classifications a document may carry, from least to most sensitive.
pub const CLASSIFICATIONS: [&str; 4] = ["public", "internal", "confidential", "restricted"];

/// The jurisdiction term that stands for every jurisdiction.
pub const ANY_JURISDICTION: &str = "*";

/// The last day a window can name (9999-12-31), for "no upper bound".
pub const LAST_DAY: i64 = 2_932_896;

/// The names of the two limits (`context_limit`).
pub const LIMIT_DOCUMENTS: &str = "documents";
pub const LIMIT_BYTES: &str = "bytes";

/// Most regex redactions a grant (all blocks together) may carry.
pub const MAX_REGEX_REDACTIONS: usize = 16;
/// Longest regex redaction pattern, in bytes.
pub const MAX_REGEX_BYTES: usize = 256;

/// The rank of a classification in [`CLASSIFICATIONS`]; `None` for an unknown one.
pub fn classification_rank(class: &str) -> Option<usize> {
    CLASSIFICATIONS.iter().position(|c| *c == class)
}

/// Every classification up to and including `max`.
pub fn classifications_up_to(max: &str) -> Option<Vec<String>> {
    let rank = classification_rank(max)?;
    Some(
        CLASSIFICATIONS[..=rank]
            .iter()
            .map(|c| c.to_string())
            .collect(),
    )
}

/// Whether `name` is a valid context source name: 1 to 64 bytes of `[a-z0-9_-]`, starting
/// with a letter or digit (never a path).
pub fn is_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// Whether `j` is a valid jurisdiction label: 1 to 32 bytes of letters, digits and `-`
/// (`EU`, `US-CA`), or [`ANY_JURISDICTION`].
pub fn is_jurisdiction(j: &str) -> bool {
    j == ANY_JURISDICTION
        || (!j.is_empty()
            && j.len() <= 32
            && j.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` date (years 1970 to 9999).
pub fn parse_day(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `YYYY-MM-DD` of a day number (inverse of [`parse_day`]).
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day (since 1970-01-01, UTC) `time` falls on.
pub fn day_of(time: SystemTime) -> i64 {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

fn time_of_day(day: i64) -> SystemTime {
    let secs = u64::try_from(day.max(0)).unwrap_or(0) * 86_400;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// How a redaction rule treats what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RedactionMode {
    /// Replace each match with `[redacted:RULE]`.
    Mask,
    /// Drop the structured field whose value matches; in the body, drop each line that does.
    Drop,
}

impl RedactionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionMode::Mask => "mask",
            RedactionMode::Drop => "drop",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mask" => Some(RedactionMode::Mask),
            "drop" => Some(RedactionMode::Drop),
            _ => None,
        }
    }
}

/// What a redaction matches: a named built-in pattern or an explicit regular expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RedactionRule {
    /// E-mail addresses.
    Email,
    /// IBANs (two letters, two check digits, 11 to 30 letters or digits, spaced or not).
    Iban,
    /// Customer identifiers, by the executor's configured pattern (`[context]
    /// customer_id_pattern`); an executor without one refuses a grant that needs it.
    CustomerId,
    /// An explicit pattern (the `regex` crate's syntax: linear time, no backreferences).
    Regex(String),
}

impl RedactionRule {
    /// Parses `email`, `iban`, `customer_id` or `regex:PATTERN` (pattern 1 to
    /// [`MAX_REGEX_BYTES`] bytes; its syntax is checked where it is compiled).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(RedactionRule::Email),
            "iban" => Some(RedactionRule::Iban),
            "customer_id" => Some(RedactionRule::CustomerId),
            _ => text
                .strip_prefix("regex:")
                .filter(|p| !p.is_empty() && p.len() <= MAX_REGEX_BYTES)
                .map(|p| RedactionRule::Regex(p.to_string())),
        }
    }
}

impl fmt::Display for RedactionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedactionRule::Email => f.write_str("email"),
            RedactionRule::Iban => f.write_str("iban"),
            RedactionRule::CustomerId => f.write_str("customer_id"),
            RedactionRule::Regex(p) => write!(f, "regex:{p}"),
        }
    }
}

/// Largest compiled size of a redaction pattern (the `regex` crate's `size_limit`).
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a redaction pattern (`regex:PATTERN`, the executor's `customer_id_pattern`) the
/// one way every side does: the `regex` crate (linear time) within [`PATTERN_SIZE_LIMIT`].
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
}

/// One redaction of a grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Redaction {
    pub rule: RedactionRule,
    pub mode: RedactionMode,
}

/// What a grant may read of one context source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextGrant {
    pub source: String,
    /// Classifications it may read (a subset of [`CLASSIFICATIONS`]).
    pub classifications: BTreeSet<String>,
    /// Jurisdictions it may read; [`ANY_JURISDICTION`] alone means any.
    pub jurisdictions: BTreeSet<String>,
    /// Documents dated within `[from_day, to_day]` (days since 1970-01-01).
    pub from_day: i64,
    pub to_day: i64,
    pub max_documents: u32,
    pub max_bytes: u64,
    /// In the order they apply; each rule once (the stricter mode, `drop`, wins).
    pub redactions: Vec<Redaction>,
}

impl ContextGrant {
    /// Whether a document with these labels may be returned.
    pub fn permits(&self, classification: &str, jurisdiction: &str, day: i64) -> bool {
        self.classifications.contains(classification)
            && (self.jurisdictions.contains(ANY_JURISDICTION)
                || self.jurisdictions.contains(jurisdiction))
            && (self.from_day..=self.to_day).contains(&day)
    }

    /// Adds `redaction`, or makes an existing one of the same rule stricter.
    pub fn add_redaction(&mut self, redaction: Redaction) {
        match self
            .redactions
            .iter_mut()
            .find(|r| r.rule == redaction.rule)
        {
            Some(existing) => existing.mode = existing.mode.max(redaction.mode),
            None => self.redactions.push(redaction),
        }
    }
}

/// The facts stating `grants` (the authority block's, or a narrowing block's).
pub fn context_facts(grants: &[ContextGrant]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for g in grants {
        facts.extend(statement_facts(&Statement {
            source: &g.source,
            classifications: g.classifications.iter(),
            jurisdictions: g.jurisdictions.iter(),
            window: Some((g.from_day, g.to_day)),
            max_documents: Some(g.max_documents),
            max_bytes: Some(g.max_bytes),
            redactions: &g.redactions,
        }));
    }
    facts
}

/// What a block states about one source, for [`statement_facts`]; `None` states nothing.
pub(crate) struct Statement<'a, C, J> {
    pub source: &'a str,
    pub classifications: C,
    pub jurisdictions: J,
    /// First and last day.
    pub window: Option<(i64, i64)>,
    pub max_documents: Option<u32>,
    pub max_bytes: Option<u64>,
    pub redactions: &'a [Redaction],
}

/// The `context_*` facts of one statement (authority block or narrowing).
pub(crate) fn statement_facts<'a, C, J>(s: &Statement<'a, C, J>) -> Vec<Fact>
where
    C: Iterator<Item = &'a String> + Clone,
    J: Iterator<Item = &'a String> + Clone,
{
    let mut facts = Vec::new();
    let source = builder::string(s.source);
    for class in s.classifications.clone() {
        facts.push(builder::fact(
            "context_classification",
            &[source.clone(), builder::string(class)],
        ));
    }
    for j in s.jurisdictions.clone() {
        facts.push(builder::fact(
            "context_jurisdiction",
            &[source.clone(), builder::string(j)],
        ));
    }
    if let Some((from, to)) = s.window {
        facts.push(builder::fact(
            "context_window",
            &[
                source.clone(),
                builder::date(&time_of_day(from)),
                builder::date(&time_of_day(to)),
            ],
        ));
    }
    let limits = [
        (LIMIT_DOCUMENTS, s.max_documents.map(i64::from)),
        (
            LIMIT_BYTES,
            s.max_bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        ),
    ];
    for (name, value) in limits {
        if let Some(value) = value {
            facts.push(builder::fact(
                "context_limit",
                &[source.clone(), builder::string(name), builder::int(value)],
            ));
        }
    }
    for r in s.redactions {
        facts.push(builder::fact(
            "context_redact",
            &[
                source.clone(),
                builder::string(&r.rule.to_string()),
                builder::string(r.mode.as_str()),
            ],
        ));
    }
    facts
}

/// What one block says about one source; `None`/empty: the block does not narrow it.
#[derive(Debug, Default)]
struct BlockStatement {
    classifications: Option<BTreeSet<String>>,
    jurisdictions: Option<BTreeSet<String>>,
    windows: Vec<(i64, i64)>,
    max_documents: Option<u32>,
    max_bytes: Option<u64>,
    redactions: Vec<Redaction>,
}

const PREDICATES: [(&str, usize); 5] = [
    ("context_classification", 2),
    ("context_jurisdiction", 2),
    ("context_window", 3),
    ("context_limit", 3),
    ("context_redact", 3),
];

fn string_term(term: &Term) -> Option<&str> {
    match term {
        Term::Str(s) => Some(s),
        _ => None,
    }
}

fn day_term(term: &Term) -> Option<i64> {
    match term {
        Term::Date(secs) => i64::try_from(secs / 86_400).ok(),
        _ => None,
    }
}

/// Every context fact of `block`, by source, or what is malformed about one.
fn block_statements(block: &BlockContent) -> Result<Vec<(String, BlockStatement)>, SdkError> {
    let mut out: Vec<(String, BlockStatement)> = Vec::new();
    for fact in block.facts_named(&PREDICATES)? {
        let name = fact.predicate.name.clone();
        let terms = &fact.predicate.terms;
        let bad = || {
            SdkError::InvalidGrant(format!(
                "block {}: malformed context fact `{fact}`",
                block.index
            ))
        };
        let source = terms.first().and_then(string_term).ok_or_else(bad)?;
        let index = match out.iter().position(|(s, _)| s == source) {
            Some(i) => i,
            None => {
                out.push((source.to_string(), BlockStatement::default()));
                out.len() - 1
            }
        };
        let statement = &mut out[index].1;
        let second = terms.get(1);
        let third = terms.get(2);
        match name.as_str() {
            "context_classification" => {
                let class = second.and_then(string_term).ok_or_else(bad)?;
                classification_rank(class).ok_or_else(bad)?;
                statement
                    .classifications
                    .get_or_insert_with(BTreeSet::new)
                    .insert(class.to_string());
            }
            "context_jurisdiction" => {
                let j = second
                    .and_then(string_term)
                    .filter(|j| is_jurisdiction(j))
                    .ok_or_else(bad)?;
                statement
                    .jurisdictions
                    .get_or_insert_with(BTreeSet::new)
                    .insert(j.to_string());
            }
            "context_window" => {
                let from = second.and_then(day_term).ok_or_else(bad)?;
                let to = third.and_then(day_term).ok_or_else(bad)?;
                statement.windows.push((from, to));
            }
            "context_limit" => {
                let limit = second.and_then(string_term).ok_or_else(bad)?;
                let Some(Term::Integer(value)) = third else {
                    return Err(bad());
                };
                let value = (*value).max(0);
                match limit {
                    LIMIT_DOCUMENTS => {
                        let v = u32::try_from(value).unwrap_or(u32::MAX);
                        let slot = statement.max_documents.get_or_insert(v);
                        *slot = (*slot).min(v);
                    }
                    LIMIT_BYTES => {
                        let v = u64::try_from(value).unwrap_or(0);
                        let slot = statement.max_bytes.get_or_insert(v);
                        *slot = (*slot).min(v);
                    }
                    _ => return Err(bad()),
                }
            }
            _ => {
                let rule = second
                    .and_then(string_term)
                    .and_then(RedactionRule::parse)
                    .ok_or_else(bad)?;
                let mode = third
                    .and_then(string_term)
                    .and_then(RedactionMode::parse)
                    .ok_or_else(bad)?;
                statement.redactions.push(Redaction { rule, mode });
            }
        }
    }
    Ok(out)
}

/// What a grant may read of each source its authority block names, after every appended block
/// narrowed it (see the module docs). A source whose authority block states no window, no
/// limits or no classification grants nothing: it is absent from the result.
pub fn effective_grants(structure: &Structure) -> Result<Vec<ContextGrant>, SdkError> {
    let mut blocks = structure.blocks().iter();
    let Some(authority) = blocks.next() else {
        return Err(SdkError::InvalidGrant(
            "token has no authority block".into(),
        ));
    };
    let mut grants: Vec<ContextGrant> = Vec::new();
    for (source, s) in block_statements(authority)? {
        let (Some(classifications), Some(max_documents), Some(max_bytes)) =
            (s.classifications, s.max_documents, s.max_bytes)
        else {
            continue;
        };
        let Some((from_day, to_day)) = s.windows.iter().copied().reduce(intersect_window) else {
            continue;
        };
        let mut grant = ContextGrant {
            source,
            classifications,
            jurisdictions: s.jurisdictions.unwrap_or_default(),
            from_day,
            to_day,
            max_documents,
            max_bytes,
            redactions: Vec::new(),
        };
        for r in s.redactions {
            grant.add_redaction(r);
        }
        grants.push(grant);
    }
    for block in blocks {
        for (source, s) in block_statements(block)? {
            let Some(grant) = grants.iter_mut().find(|g| g.source == source) else {
                continue;
            };
            narrow(grant, s);
        }
    }
    let regexes = grants
        .iter()
        .flat_map(|g| &g.redactions)
        .filter(|r| matches!(r.rule, RedactionRule::Regex(_)))
        .count();
    if regexes > MAX_REGEX_REDACTIONS {
        return Err(SdkError::InvalidGrant(format!(
            "the grant carries {regexes} regex redactions, at most {MAX_REGEX_REDACTIONS}"
        )));
    }
    Ok(grants)
}

fn intersect_window(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    (a.0.max(b.0), a.1.min(b.1))
}

/// Applies one appended block's statement to `grant`: it can only take away.
fn narrow(grant: &mut ContextGrant, s: BlockStatement) {
    if let Some(classes) = s.classifications {
        grant.classifications = grant
            .classifications
            .intersection(&classes)
            .cloned()
            .collect();
    }
    if let Some(js) = s.jurisdictions {
        if !js.contains(ANY_JURISDICTION) {
            grant.jurisdictions = if grant.jurisdictions.contains(ANY_JURISDICTION) {
                js
            } else {
                grant.jurisdictions.intersection(&js).cloned().collect()
            };
        }
    }
    for w in s.windows {
        (grant.from_day, grant.to_day) = intersect_window((grant.from_day, grant.to_day), w);
    }
    if let Some(n) = s.max_documents {
        grant.max_documents = grant.max_documents.min(n);
    }
    if let Some(n) = s.max_bytes {
        grant.max_bytes = grant.max_bytes.min(n);
    }
    for r in s.redactions {
        grant.add_redaction(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bad_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_day("9999-12-31"), Some(LAST_DAY));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-01 ",
            "+024-01-01",
            "1969-12-31",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn source_names_are_never_paths() {
        assert!(is_source_name("kb"));
        assert!(is_source_name("claims-2024_eu"));
        for bad in [
            "",
            "../kb",
            "kb/x",
            "/etc",
            "KB",
            ".kb",
            "kb\0",
            "a".repeat(65).as_str(),
        ] {
            assert!(!is_source_name(bad), "{bad}");
        }
    }

    #[test]
    fn redaction_rules_parse() {
        assert_eq!(RedactionRule::parse("email"), Some(RedactionRule::Email));
        assert_eq!(
            RedactionRule::parse("regex:ACCT-[0-9]+"),
            Some(RedactionRule::Regex("ACCT-[0-9]+".into()))
        );
        assert_eq!(RedactionRule::parse("regex:"), None);
        assert_eq!(RedactionRule::parse("phone"), None);
        assert_eq!(
            classifications_up_to("internal"),
            Some(vec!["public".into(), "internal".into()])
        );
    }
}
