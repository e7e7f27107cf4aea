//! The grant's redaction rules, compiled, and their application to one document.
//!
//! `mask` replaces each match with `[redacted:RULE]` (in the title, owner, every field and the
//! body); `drop` removes a structured field whose value matches and each body line that does
//! (the title and owner are masked). Patterns are the `regex` crate's (linear time), with a size
//! limit; nothing here comes from the agent's request.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use regex::Regex;
use trust_sdk::vocabulary::context::{compile_pattern, Redaction, RedactionMode, RedactionRule};

use super::front_matter::Document;
use super::ContextSettings;

fn builtin(
    pattern: &'static str,
    slot: &'static OnceLock<Option<Arc<Regex>>>,
) -> Option<Arc<Regex>> {
    slot.get_or_init(|| Regex::new(pattern).ok().map(Arc::new))
        .clone()
}

fn email() -> Option<Arc<Regex>> {
    static EMAIL: OnceLock<Option<Arc<Regex>>> = OnceLock::new();
    builtin(r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", &EMAIL)
}

fn iban() -> Option<Arc<Regex>> {
    static IBAN: OnceLock<Option<Arc<Regex>>> = OnceLock::new();
    builtin(
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        &IBAN,
    )
}

/// One compiled rule.
pub struct Redactor {
    pub redaction: Redaction,
    regex: Arc<Regex>,
    mask: String,
}

/// Why the grant's redactions cannot be applied here (the request is refused, never run
/// without them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    #[error(
        "the grant redacts `customer_id` but this executor has no `[context] customer_id_pattern`"
    )]
    NoCustomerPattern,
    #[error("redaction `{rule}` does not compile: {reason}")]
    BadPattern { rule: String, reason: String },
}

/// Compiles `redactions` in order.
pub fn compile(
    redactions: &[Redaction],
    settings: &ContextSettings,
) -> Result<Vec<Redactor>, RedactionError> {
    redactions
        .iter()
        .map(|r| {
            let bad = |reason: String| RedactionError::BadPattern {
                rule: r.rule.to_string(),
                reason,
            };
            let regex = match &r.rule {
                RedactionRule::Email => email().ok_or_else(|| bad("built-in".into()))?,
                RedactionRule::Iban => iban().ok_or_else(|| bad("built-in".into()))?,
                RedactionRule::CustomerId => settings
                    .customer_id
                    .clone()
                    .ok_or(RedactionError::NoCustomerPattern)?,
                RedactionRule::Regex(p) => {
                    Arc::new(compile_pattern(p).map_err(|e| bad(e.to_string()))?)
                }
            };
            let mask = match &r.rule {
                RedactionRule::Regex(_) => "[redacted:regex]".to_string(),
                named => format!("[redacted:{named}]"),
            };
            Ok(Redactor {
                redaction: r.clone(),
                regex,
                mask,
            })
        })
        .collect()
}

impl Redactor {
    /// `text` masked, and how many matches there were.
    fn mask(&self, text: &str) -> (String, u64) {
        let count = self.regex.find_iter(text).count() as u64;
        if count == 0 {
            return (text.to_string(), 0);
        }
        (
            self.regex
                .replace_all(text, self.mask.as_str())
                .into_owned(),
            count,
        )
    }

    /// `body` with every matching line dropped (or masked), and how many matches there were.
    fn body(&self, body: &str) -> (String, u64) {
        if self.redaction.mode == RedactionMode::Mask {
            return self.mask(body);
        }
        let mut count = 0;
        let mut out = String::with_capacity(body.len());
        for line in body.split_inclusive('\n') {
            let n = self.regex.find_iter(line).count() as u64;
            if n == 0 {
                out.push_str(line);
            }
            count += n;
        }
        (out, count)
    }

    /// Applies this rule to `doc`; returns the matches it redacted.
    pub fn apply(&self, doc: &mut Document) -> u64 {
        let mut total = 0;
        for text in [&mut doc.title, &mut doc.owner] {
            let (masked, n) = self.mask(text);
            *text = masked;
            total += n;
        }
        let mut fields = BTreeMap::new();
        for (name, value) in std::mem::take(&mut doc.fields) {
            let (masked, n) = self.mask(&value);
            total += n;
            match (n, self.redaction.mode) {
                (0, _) => {
                    fields.insert(name, value);
                }
                (_, RedactionMode::Drop) => {}
                (_, RedactionMode::Mask) => {
                    fields.insert(name, masked);
                }
            }
        }
        doc.fields = fields;
        let (body, n) = self.body(&doc.body);
        doc.body = body;
        total + n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        Document {
            id: "d".into(),
            title: "mail bob@example.org".into(),
            classification: "public".into(),
            owner: "o".into(),
            jurisdiction: "EU".into(),
            day: 0,
            fields: [(
                "iban".to_string(),
                "DE89 3704 0044 0532 0130 00".to_string(),
            )]
            .into(),
            body: "pay GB29NWBK60161331926819 now\nkeep\nwrite to a.b@c.example\n".into(),
        }
    }

    #[test]
    fn masks_and_drops_and_counts() {
        let rules = [
            Redaction {
                rule: RedactionRule::Email,
                mode: RedactionMode::Mask,
            },
            Redaction {
                rule: RedactionRule::Iban,
                mode: RedactionMode::Drop,
            },
        ];
        let compiled = compile(&rules, &ContextSettings::default()).unwrap();
        let mut d = doc();
        assert_eq!(compiled[0].apply(&mut d), 2);
        assert_eq!(compiled[1].apply(&mut d), 2);
        assert_eq!(d.title, "mail [redacted:email]");
        assert!(d.fields.is_empty());
        assert_eq!(d.body, "keep\nwrite to [redacted:email]\n");
        let customer = [Redaction {
            rule: RedactionRule::CustomerId,
            mode: RedactionMode::Mask,
        }];
        assert_eq!(
            compile(&customer, &ContextSettings::default()).err(),
            Some(RedactionError::NoCustomerPattern)
        );
    }
}
