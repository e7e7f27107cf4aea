//! Narrowing what a grant may read of a context source, offline (`grant attenuate`, `grant
//! derive`): the same `context_*` facts the authority block states, written into the appended
//! block, which the executor combines so that they only tighten (`vocabulary::context`).
//!
//! A narrowing that would ask for more than the grant holds (a classification, jurisdiction,
//! date or limit beyond it, or a source it does not read) is refused here with a clear error,
//! although the executor would only intersect it away: a caller learns of the mistake when it
//! makes it. A narrowing that would state nothing (an empty set, `*`) is refused too, because
//! an empty statement is not a narrowing the executor can see.
//!
//! Flag form (`--context SOURCE:KEY=VALUE`, repeatable, merged per source), with the keys of a
//! profile's `context.retrieve` rule: `classifications=a,b`, `max_classification=C`,
//! `jurisdictions=EU,UK`, `window_from=YYYY-MM-DD`, `window_to=YYYY-MM-DD`, `max_documents=N`,
//! `max_bytes=N`, `redact=MODE:RULE` (`mask:email`, `drop:regex:ACCT-[0-9]+`).

use std::collections::BTreeSet;

use biscuit_auth::builder::Fact;

use super::context::{
    classification_rank, classifications_up_to, compile_pattern, format_day, is_jurisdiction,
    is_source_name, parse_day, statement_facts, ContextGrant, Redaction, RedactionMode,
    RedactionRule, Statement, ANY_JURISDICTION, LAST_DAY, MAX_REGEX_REDACTIONS,
};
use crate::error::SdkError;

/// What one narrowing says about one source; `None` / empty leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextNarrowing {
    pub source: String,
    pub classifications: Option<BTreeSet<String>>,
    pub jurisdictions: Option<BTreeSet<String>>,
    /// First and last day of the window (days since 1970-01-01, included); an end not given
    /// keeps the grant's.
    pub window_from: Option<i64>,
    pub window_to: Option<i64>,
    pub max_documents: Option<u32>,
    pub max_bytes: Option<u64>,
    /// Added to the grant's redactions (a redaction can only take more away).
    pub redactions: Vec<Redaction>,
}

fn invalid(flag: &str, why: impl std::fmt::Display) -> SdkError {
    SdkError::InvalidRequest(format!("context narrowing `{flag}`: {why}"))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `SOURCE:KEY=VALUE` flags (see the module docs), merged into one narrowing per source
/// in the order sources first appear.
pub fn parse_flags(flags: &[String]) -> Result<Vec<ContextNarrowing>, SdkError> {
    let mut out: Vec<ContextNarrowing> = Vec::new();
    for flag in flags {
        let (source, rest) = flag
            .split_once(':')
            .ok_or_else(|| invalid(flag, "expected SOURCE:KEY=VALUE"))?;
        let (key, value) = rest
            .split_once('=')
            .ok_or_else(|| invalid(flag, "expected SOURCE:KEY=VALUE"))?;
        if !is_source_name(source) {
            return Err(invalid(
                flag,
                "a source name is 1 to 64 lower-case letters, digits, `_` or `-`",
            ));
        }
        let index = match out.iter().position(|n| n.source == source) {
            Some(i) => i,
            None => {
                out.push(ContextNarrowing {
                    source: source.to_string(),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let n = &mut out[index];
        let twice = || {
            invalid(
                flag,
                format!("`{key}` is given twice for source `{source}`"),
            )
        };
        match key {
            "classifications" | "max_classification" => {
                if n.classifications.is_some() {
                    return Err(twice());
                }
                let classes = if key == "max_classification" {
                    classifications_up_to(value)
                        .ok_or_else(|| invalid(flag, format!("unknown classification `{value}`")))?
                } else {
                    list(value)
                };
                if classes.is_empty() {
                    return Err(invalid(flag, "an empty set narrows nothing"));
                }
                if let Some(c) = classes.iter().find(|c| classification_rank(c).is_none()) {
                    return Err(invalid(flag, format!("unknown classification `{c}`")));
                }
                n.classifications = Some(classes.into_iter().collect());
            }
            "jurisdictions" => {
                if n.jurisdictions.is_some() {
                    return Err(twice());
                }
                let js = list(value);
                if js.is_empty() || js.iter().any(|j| j == ANY_JURISDICTION) {
                    return Err(invalid(
                        flag,
                        "name the jurisdictions to keep (`*` or an empty set narrows nothing)",
                    ));
                }
                if let Some(j) = js.iter().find(|j| !is_jurisdiction(j)) {
                    return Err(invalid(flag, format!("`{j}` is not a jurisdiction")));
                }
                n.jurisdictions = Some(js.into_iter().collect());
            }
            "window_from" | "window_to" => {
                let day = parse_day(value)
                    .ok_or_else(|| invalid(flag, format!("`{value}` is not YYYY-MM-DD")))?;
                let slot = if key == "window_from" {
                    &mut n.window_from
                } else {
                    &mut n.window_to
                };
                if slot.replace(day).is_some() {
                    return Err(twice());
                }
            }
            "max_documents" => {
                if n.max_documents.is_some() {
                    return Err(twice());
                }
                n.max_documents = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(flag, format!("`{value}` is not a count")))?,
                );
            }
            "max_bytes" => {
                if n.max_bytes.is_some() {
                    return Err(twice());
                }
                n.max_bytes = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(flag, format!("`{value}` is not a byte count")))?,
                );
            }
            "redact" => {
                let (mode, rule) = value
                    .split_once(':')
                    .ok_or_else(|| invalid(flag, "expected redact=MODE:RULE, e.g. mask:email"))?;
                let mode = RedactionMode::parse(mode)
                    .ok_or_else(|| invalid(flag, format!("mode `{mode}` is not mask or drop")))?;
                let rule = RedactionRule::parse(rule).ok_or_else(|| {
                    invalid(
                        flag,
                        format!("rule `{rule}` is not email, iban, customer_id or regex:PATTERN"),
                    )
                })?;
                if let RedactionRule::Regex(pattern) = &rule {
                    compile_pattern(pattern).map_err(|e| invalid(flag, e))?;
                }
                n.redactions.push(Redaction { rule, mode });
            }
            other => {
                return Err(invalid(
                    flag,
                    format!(
                    "unknown key `{other}` (classifications, max_classification, jurisdictions, \
                         window_from, window_to, max_documents, max_bytes, redact)"
                ),
                ))
            }
        }
    }
    Ok(out)
}

/// Refuses a narrowing that asks for more of a source than `held` (the grant's context after
/// every block so far, `context::effective_grants`) lets it read.
pub fn check_narrows(
    held: &[ContextGrant],
    narrowings: &[ContextNarrowing],
) -> Result<(), SdkError> {
    let mut regexes: BTreeSet<&RedactionRule> = held
        .iter()
        .flat_map(|g| &g.redactions)
        .map(|r| &r.rule)
        .filter(|r| matches!(r, RedactionRule::Regex(_)))
        .collect();
    for n in narrowings {
        let source = &n.source;
        let Some(grant) = held.iter().find(|g| g.source == *source) else {
            return Err(SdkError::Widening(format!(
                "the grant reads nothing of context source `{source}`"
            )));
        };
        if let Some(c) = n
            .classifications
            .iter()
            .flatten()
            .find(|c| !grant.classifications.contains(*c))
        {
            return Err(SdkError::Widening(format!(
                "classification `{c}` of context source `{source}` is not in the grant"
            )));
        }
        if !grant.jurisdictions.contains(ANY_JURISDICTION) {
            if let Some(j) = n
                .jurisdictions
                .iter()
                .flatten()
                .find(|j| !grant.jurisdictions.contains(*j))
            {
                return Err(SdkError::Widening(format!(
                    "jurisdiction `{j}` of context source `{source}` is not in the grant"
                )));
            }
        }
        if let (Some(from), Some(to)) = (n.window_from, n.window_to) {
            if from > to {
                return Err(SdkError::InvalidRequest(format!(
                    "context source `{source}`: the window starts after it ends"
                )));
            }
        }
        let outside = n.window_from.is_some_and(|d| d < grant.from_day)
            || n.window_to.is_some_and(|d| d > grant.to_day);
        if outside {
            return Err(SdkError::Widening(format!(
                "context source `{source}`: the window reaches outside the grant's {} to {}",
                format_day(grant.from_day),
                format_day(grant.to_day)
            )));
        }
        if let Some(m) = n.max_documents.filter(|m| *m > grant.max_documents) {
            return Err(SdkError::Widening(format!(
                "context source `{source}`: max_documents {m} exceeds the grant's {}",
                grant.max_documents
            )));
        }
        if let Some(m) = n.max_bytes.filter(|m| *m > grant.max_bytes) {
            return Err(SdkError::Widening(format!(
                "context source `{source}`: max_bytes {m} exceeds the grant's {}",
                grant.max_bytes
            )));
        }
        regexes.extend(
            n.redactions
                .iter()
                .map(|r| &r.rule)
                .filter(|r| matches!(r, RedactionRule::Regex(_))),
        );
    }
    if regexes.len() > MAX_REGEX_REDACTIONS {
        return Err(SdkError::InvalidRequest(format!(
            "the grant would carry {} regex redactions, at most {MAX_REGEX_REDACTIONS}",
            regexes.len()
        )));
    }
    Ok(())
}

/// The facts stating `narrowings` in an appended block.
pub fn narrowing_facts(narrowings: &[ContextNarrowing]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for n in narrowings {
        // An open end is stated as the widest day: the executor intersects it away.
        let window = (n.window_from.is_some() || n.window_to.is_some())
            .then(|| (n.window_from.unwrap_or(0), n.window_to.unwrap_or(LAST_DAY)));
        facts.extend(statement_facts(&Statement {
            source: &n.source,
            classifications: n.classifications.iter().flatten(),
            jurisdictions: n.jurisdictions.iter().flatten(),
            window,
            max_documents: n.max_documents,
            max_bytes: n.max_bytes,
            redactions: &n.redactions,
        }));
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::context::{RedactionMode, RedactionRule};

    fn flags(items: &[&str]) -> Result<Vec<ContextNarrowing>, SdkError> {
        parse_flags(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn held() -> Vec<ContextGrant> {
        vec![ContextGrant {
            source: "kb".into(),
            classifications: ["public".to_string(), "internal".to_string()].into(),
            jurisdictions: ["EU".to_string()].into(),
            from_day: 100,
            to_day: 200,
            max_documents: 10,
            max_bytes: 5000,
            redactions: Vec::new(),
        }]
    }

    #[test]
    fn flags_merge_per_source() {
        let n = flags(&[
            "kb:max_classification=internal",
            "kb:jurisdictions=EU",
            "kb:window_to=1970-06-01",
            "kb:max_documents=3",
            "kb:max_bytes=100",
            "kb:redact=mask:email",
            "kb:redact=drop:regex:ACCT-[0-9]+",
        ])
        .unwrap();
        assert_eq!(n.len(), 1);
        let n = &n[0];
        assert_eq!(
            n.classifications,
            Some(["public".to_string(), "internal".to_string()].into())
        );
        assert_eq!(n.window_from, None);
        assert_eq!(n.window_to, parse_day("1970-06-01"));
        assert_eq!((n.max_documents, n.max_bytes), (Some(3), Some(100)));
        assert_eq!(
            n.redactions,
            vec![
                Redaction {
                    rule: RedactionRule::Email,
                    mode: RedactionMode::Mask
                },
                Redaction {
                    rule: RedactionRule::Regex("ACCT-[0-9]+".into()),
                    mode: RedactionMode::Drop
                },
            ]
        );
    }

    #[test]
    fn bad_flags_are_refused_with_what_is_wrong() {
        for (flag, why) in [
            ("kb", "expected SOURCE:KEY=VALUE"),
            ("kb:max_documents", "expected SOURCE:KEY=VALUE"),
            ("../kb:max_documents=1", "a source name"),
            ("kb:classifications=", "an empty set narrows nothing"),
            (
                "kb:classifications=secret",
                "unknown classification `secret`",
            ),
            ("kb:max_classification=top", "unknown classification `top`"),
            ("kb:jurisdictions=*", "`*` or an empty set narrows nothing"),
            ("kb:jurisdictions=eu!", "is not a jurisdiction"),
            ("kb:window_from=2024-02-30", "is not YYYY-MM-DD"),
            ("kb:max_documents=-1", "is not a count"),
            ("kb:max_bytes=lots", "is not a byte count"),
            ("kb:redact=email", "expected redact=MODE:RULE"),
            ("kb:redact=hide:email", "mode `hide`"),
            ("kb:redact=mask:phone", "rule `phone`"),
            ("kb:redact=mask:regex:(", "regex parse error"),
            ("kb:color=red", "unknown key `color`"),
        ] {
            let err = flags(&[flag]).unwrap_err().to_string();
            assert!(err.contains(why), "{flag}: {err}");
        }
        let err = flags(&["kb:max_documents=1", "kb:max_documents=2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
    }

    #[test]
    fn a_narrowing_beyond_the_grant_is_refused() {
        let held = held();
        for (flag, why) in [
            (
                "other:max_documents=1",
                "reads nothing of context source `other`",
            ),
            (
                "kb:classifications=confidential",
                "classification `confidential`",
            ),
            ("kb:jurisdictions=UK", "jurisdiction `UK`"),
            ("kb:window_from=1970-01-01", "the window reaches outside"),
            ("kb:window_to=1971-01-01", "the window reaches outside"),
            (
                "kb:max_documents=11",
                "max_documents 11 exceeds the grant's 10",
            ),
            (
                "kb:max_bytes=5001",
                "max_bytes 5001 exceeds the grant's 5000",
            ),
        ] {
            let err = check_narrows(&held, &flags(&[flag]).unwrap()).unwrap_err();
            assert!(matches!(err, SdkError::Widening(_)), "{flag}: {err}");
            assert!(err.to_string().contains(why), "{flag}: {err}");
        }
        let reversed = flags(&["kb:window_from=1970-07-01", "kb:window_to=1970-05-01"]).unwrap();
        assert!(matches!(
            check_narrows(&held, &reversed),
            Err(SdkError::InvalidRequest(_))
        ));
        let within = flags(&[
            "kb:classifications=public",
            "kb:jurisdictions=EU",
            "kb:window_from=1970-04-11",
            "kb:window_to=1970-07-19",
            "kb:max_documents=10",
            "kb:max_bytes=1",
            "kb:redact=drop:iban",
        ])
        .unwrap();
        check_narrows(&held, &within).unwrap();
        let too_many: Vec<String> = (0..=MAX_REGEX_REDACTIONS)
            .map(|i| format!("kb:redact=mask:regex:x{i}"))
            .collect();
        let err = check_narrows(&held, &parse_flags(&too_many).unwrap()).unwrap_err();
        assert!(err.to_string().contains("regex redactions"), "{err}");
    }

    #[test]
    fn facts_state_only_what_the_narrowing_says() {
        let n = flags(&["kb:window_from=1970-04-11", "kb:max_documents=2"]).unwrap();
        let facts: Vec<String> = narrowing_facts(&n).iter().map(|f| f.to_string()).collect();
        assert_eq!(
            facts,
            [
                "context_window(\"kb\", 1970-04-11T00:00:00Z, 9999-12-31T00:00:00Z)",
                "context_limit(\"kb\", \"documents\", 2)",
            ]
        );
    }
}
