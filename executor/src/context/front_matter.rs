//! A document's labels: the front matter between two `---` lines, read strictly.
//!
//! ```text
//! ---
//! id: claim-2024-017
//! title: Water damage, flat 3
//! classification: internal
//! owner: claims-team
//! jurisdiction: EU
//! date: 2024-05-01
//! fields:
//!   customer: CUST-004211
//!   iban: DE89 3704 0044 0532 0130 00
//! ---
//! The body...
//! ```
//!
//! One `key: value` per line; keys from a closed set, each at most once; `fields:` opens the
//! structured record, one `  name: value` per line indented by exactly two spaces. Required:
//! `id`, `classification`, `owner`, `jurisdiction`, `date`. A value may be wrapped in one pair of
//! double quotes; control characters (tabs and carriage returns included) are refused. Anything
//! else makes the document unlabeled: it is skipped, counted and logged, never returned.

use std::collections::BTreeMap;

use trust_sdk::vocabulary::context::{classification_rank, is_jurisdiction, parse_day};

/// Most lines of front matter.
const MAX_LINES: usize = 200;
/// Most structured fields.
const MAX_FIELDS: usize = 64;
/// Longest label or field value, in bytes.
const MAX_VALUE_BYTES: usize = 4096;

/// A labelled document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub classification: String,
    pub owner: String,
    pub jurisdiction: String,
    /// Days since 1970-01-01.
    pub day: i64,
    pub fields: BTreeMap<String, String>,
    pub body: String,
}

/// Why a document's labels were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("front matter: {0}")]
pub struct LabelError(String);

fn bad(message: impl Into<String>) -> LabelError {
    LabelError(message.into())
}

/// Whether `id` is a document id: 1 to 128 bytes of letters, digits, `.`, `_`, `-`.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// `key: value` → (key, value without its quotes).
fn split_line(line: &str) -> Result<(&str, &str), LabelError> {
    let (key, value) = line.split_once(':').ok_or_else(|| {
        bad(format!(
            "line `{}` is not `key: value`",
            line.escape_debug()
        ))
    })?;
    let value = value.strip_prefix(' ').unwrap_or(value);
    let value = match value.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| bad(format!("unterminated quote in `{key}`")))?,
        None => value,
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(bad(format!(
            "`{key}` is longer than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok((key, value))
}

/// Reads the labels and body of `text`.
pub fn parse(text: &str) -> Result<Document, LabelError> {
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| bad("a document starts with a `---` line"))?;
    let (head, body) = match rest.split_once("\n---\n") {
        Some((head, body)) => (head, body),
        None => (
            rest.strip_suffix("\n---")
                .ok_or_else(|| bad("no closing `---` line"))?,
            "",
        ),
    };
    if head.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("a control character in the front matter"));
    }
    let lines: Vec<&str> = head.lines().collect();
    if lines.len() > MAX_LINES {
        return Err(bad(format!("more than {MAX_LINES} lines")));
    }
    let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut in_fields = false;
    for line in lines {
        if let Some(field) = line.strip_prefix("  ") {
            if !in_fields {
                return Err(bad("an indented line outside `fields:`"));
            }
            let (name, value) = split_line(field)?;
            if !is_field_name(name) {
                return Err(bad(format!("field name `{}`", name.escape_debug())));
            }
            if fields.insert(name.to_string(), value.to_string()).is_some() {
                return Err(bad(format!("field `{name}` appears twice")));
            }
            if fields.len() > MAX_FIELDS {
                return Err(bad(format!("more than {MAX_FIELDS} fields")));
            }
            continue;
        }
        in_fields = false;
        let (key, value) = split_line(line)?;
        if !matches!(
            key,
            "id" | "title" | "classification" | "owner" | "jurisdiction" | "date" | "fields"
        ) {
            return Err(bad(format!("unknown key `{}`", key.escape_debug())));
        }
        if labels.insert(key, value).is_some() {
            return Err(bad(format!("`{key}` appears twice")));
        }
        if key == "fields" {
            if !value.is_empty() {
                return Err(bad("`fields:` takes indented lines, not a value"));
            }
            in_fields = true;
        }
    }
    let required = |key: &str| -> Result<&str, LabelError> {
        labels
            .get(key)
            .copied()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad(format!("`{key}` is missing")))
    };
    let id = required("id")?;
    if !is_id(id) {
        return Err(bad(format!("id `{}`", id.escape_debug())));
    }
    let classification = required("classification")?;
    if classification_rank(classification).is_none() {
        return Err(bad(format!("unknown classification `{classification}`")));
    }
    let jurisdiction = required("jurisdiction")?;
    if !is_jurisdiction(jurisdiction) || jurisdiction == "*" {
        return Err(bad(format!("jurisdiction `{jurisdiction}`")));
    }
    let date = required("date")?;
    let day = parse_day(date).ok_or_else(|| bad(format!("date `{date}` is not YYYY-MM-DD")))?;
    Ok(Document {
        id: id.to_string(),
        title: labels.get("title").copied().unwrap_or_default().to_string(),
        classification: classification.to_string(),
        owner: required("owner")?.to_string(),
        jurisdiction: jurisdiction.to_string(),
        day,
        fields,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: a-1\ntitle: \"Claim\"\nclassification: internal\nowner: claims\njurisdiction: EU\ndate: 2024-05-01\nfields:\n  customer: CUST-000001\n---\nbody text\n";

    #[test]
    fn reads_labels_fields_and_body() {
        let doc = parse(GOOD).unwrap();
        assert_eq!(doc.id, "a-1");
        assert_eq!(doc.title, "Claim");
        assert_eq!(doc.fields["customer"], "CUST-000001");
        assert_eq!(doc.body, "body text\n");
    }

    #[test]
    fn refuses_every_malformed_label() {
        let cases = [
            ("no front matter", "id: a\n"),
            ("twice", "---\nid: a\nclassification: public\nclassification: restricted\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("unknown key", "---\nid: a\nclass: public\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("bad class", "---\nid: a\nclassification: secret\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("bad date", "---\nid: a\nclassification: public\nowner: o\njurisdiction: EU\ndate: 2024-02-30\n---\n"),
            ("missing owner", "---\nid: a\nclassification: public\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("bad id", "---\nid: ../a\nclassification: public\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("not closed", "---\nid: a\nclassification: public\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n"),
            ("cr", "---\nid: a\r\nclassification: public\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("indent", "---\n  id: a\nclassification: public\nowner: o\njurisdiction: EU\ndate: 2024-01-01\n---\n"),
            ("any jurisdiction", "---\nid: a\nclassification: public\nowner: o\njurisdiction: *\ndate: 2024-01-01\n---\n"),
        ];
        for (name, text) in cases {
            assert!(parse(text).is_err(), "{name}");
        }
    }
}
