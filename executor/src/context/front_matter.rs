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

use super::labels::{self, bad, is_field_name, LabelError, RawLabels, MAX_FIELDS, MAX_VALUE_BYTES};

pub use super::labels::Document;

/// Most lines of front matter.
const MAX_LINES: usize = 200;

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
    let mut found: BTreeMap<&str, &str> = BTreeMap::new();
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
        if found.insert(key, value).is_some() {
            return Err(bad(format!("`{key}` appears twice")));
        }
        if key == "fields" {
            if !value.is_empty() {
                return Err(bad("`fields:` takes indented lines, not a value"));
            }
            in_fields = true;
        }
    }
    let label = |key: &str| found.get(key).copied();
    let raw = RawLabels {
        id: label("id"),
        title: label("title"),
        classification: label("classification"),
        owner: label("owner"),
        jurisdiction: label("jurisdiction"),
        date: label("date"),
    };
    labels::document(&raw, fields, body.to_string())
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
