//! An HTTP source's answer read strictly into candidate documents:
//!
//! ```json
//! {"documents": [{"id": "c-1", "title": "...", "classification": "internal",
//!   "owner": "crm", "jurisdiction": "EU", "date": "2024-05-01",
//!   "fields": {"customer": "CUST-000001"}, "content": "..."}]}
//! ```
//!
//! The body must be that one JSON object (no other key; anything else refuses the whole
//! retrieval). Each document is checked on its own, like a directory document's front matter
//! (`labels.rs`): an unknown or missing key, a label of the wrong type or form, a non-string
//! field value or content make it unlabeled (skipped, counted, logged without its content);
//! one larger than `[context] max_document_bytes` (its JSON text) is counted oversized;
//! beyond `max_scan_documents` the rest is not read (truncated). Two documents with one id:
//! neither is returned.

use std::collections::BTreeMap;

use serde_json::Value;

use super::candidates::Candidates;
use super::labels::{self, bad, Document, LabelError, RawLabels};
use super::ContextSettings;

/// The keys a document may have.
const KEYS: [&str; 8] = [
    "id",
    "title",
    "classification",
    "owner",
    "jurisdiction",
    "date",
    "fields",
    "content",
];

/// The candidate documents of `body`, or why it is not a document list (a short reason that
/// quotes nothing of the body).
pub fn parse(body: &[u8], source: &str, settings: &ContextSettings) -> Result<Candidates, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "a body that is not JSON ({} at line {} column {})",
            classify(&e),
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(mut top) = value else {
        return Err("a body that is not a JSON object".into());
    };
    if let Some(other) = top.keys().find(|k| *k != "documents") {
        return Err(format!(
            "a body with key `{}` beside `documents`",
            other.escape_debug()
        ));
    }
    let Some(Value::Array(listed)) = top.remove("documents") else {
        return Err("a body without a `documents` array".into());
    };
    let mut out = Candidates::default();
    for (index, item) in listed.iter().enumerate() {
        if index >= settings.max_scan_documents {
            out.truncated = true;
            break;
        }
        let size = serde_json::to_vec(item).map_or(u64::MAX, |v| v.len() as u64);
        if size > settings.max_document_bytes {
            tracing::warn!(
                source,
                index,
                size,
                cap = settings.max_document_bytes,
                "context document over the size cap; skipped"
            );
            out.oversized += 1;
            continue;
        }
        match document(item) {
            Ok(doc) => out.documents.push(doc),
            Err(why) => {
                tracing::warn!(source, index, reason = %why, "unlabeled context document skipped");
                out.unlabeled += 1;
            }
        }
    }
    out.drop_twins(source);
    Ok(out)
}

/// What kind of JSON error `e` is, without its text (which may quote the body).
fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "a read error",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "a data error",
        serde_json::error::Category::Eof => "it ends early",
    }
}

fn text<'a>(
    doc: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, LabelError> {
    match doc.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{key}` is not a string"))),
    }
}

/// One listed document, checked.
fn document(item: &Value) -> Result<Document, LabelError> {
    let Value::Object(doc) = item else {
        return Err(bad("a listed document is not a JSON object"));
    };
    if let Some(key) = doc.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(bad(format!("unknown key `{}`", key.escape_debug())));
    }
    let mut fields = BTreeMap::new();
    match doc.get("fields") {
        None => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let Value::String(value) = value else {
                    return Err(bad(format!(
                        "field `{}` is not a string",
                        name.escape_debug()
                    )));
                };
                fields.insert(name.clone(), value.clone());
            }
        }
        Some(_) => return Err(bad("`fields` is not an object of strings")),
    }
    let raw = RawLabels {
        id: text(doc, "id")?,
        title: text(doc, "title")?,
        classification: text(doc, "classification")?,
        owner: text(doc, "owner")?,
        jurisdiction: text(doc, "jurisdiction")?,
        date: text(doc, "date")?,
    };
    let content = text(doc, "content")?.unwrap_or_default().to_string();
    labels::document(&raw, fields, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> Value {
        serde_json::json!({"id": id, "title": "T", "classification": "internal", "owner": "crm",
            "jurisdiction": "EU", "date": "2024-05-01", "fields": {"customer": "CUST-000001"},
            "content": "body\nline two"})
    }

    fn parse_value(v: Value, settings: &ContextSettings) -> Result<Candidates, String> {
        parse(v.to_string().as_bytes(), "crm", settings)
    }

    #[test]
    fn reads_well_labelled_documents() {
        let found = parse_value(
            serde_json::json!({"documents": [doc("a"), doc("b")]}),
            &ContextSettings::default(),
        )
        .unwrap();
        let ids: Vec<&str> = found.documents.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(found.documents[0].fields["customer"], "CUST-000001");
        assert_eq!(found.documents[0].body, "body\nline two");
        assert_eq!(
            (found.unlabeled, found.oversized, found.truncated),
            (0, 0, false)
        );
    }

    #[test]
    fn skips_each_badly_labelled_document_and_counts_it() {
        let mut bad_docs = Vec::new();
        for (key, value) in [
            ("classification", serde_json::json!("secret")),
            ("classification", serde_json::json!(["public"])),
            ("date", serde_json::json!("2024-02-30")),
            ("jurisdiction", serde_json::json!("*")),
            ("id", serde_json::json!("../a")),
            ("owner", serde_json::json!("")),
            ("title", serde_json::json!("line\nbreak")),
            ("fields", serde_json::json!({"n": 1})),
            ("fields", serde_json::json!({"bad name": "x"})),
            ("content", serde_json::json!(7)),
            ("extra", serde_json::json!("x")),
        ] {
            let mut d = doc(&format!("bad-{}", bad_docs.len()));
            d[key] = value;
            bad_docs.push(d);
        }
        let mut missing = doc("missing");
        missing.as_object_mut().unwrap().remove("jurisdiction");
        bad_docs.push(missing);
        bad_docs.push(serde_json::json!("not an object"));
        // Twins: neither returned.
        bad_docs.push(doc("twin"));
        bad_docs.push(doc("twin"));
        bad_docs.push(doc("good"));
        let found = parse_value(
            serde_json::json!({ "documents": bad_docs }),
            &ContextSettings::default(),
        )
        .unwrap();
        let ids: Vec<&str> = found.documents.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["good"]);
        assert_eq!(found.unlabeled, 15);
    }

    #[test]
    fn caps_size_and_count() {
        let settings = ContextSettings {
            max_document_bytes: 300,
            max_scan_documents: 2,
            ..ContextSettings::default()
        };
        let mut huge = doc("huge");
        huge["content"] = Value::from("x".repeat(1000));
        let found = parse_value(
            serde_json::json!({"documents": [huge, doc("a"), doc("b")]}),
            &settings,
        )
        .unwrap();
        assert_eq!(found.documents.len(), 1);
        assert_eq!(found.oversized, 1);
        assert!(found.truncated);
    }

    #[test]
    fn refuses_a_body_that_is_not_the_document_list() {
        for (body, needle) in [
            ("not json jane.doe@customer.example", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            (r#"{"docs": []}"#, "key `docs`"),
            (r#"{"documents": [], "next": "x"}"#, "key `next`"),
            (r#"{"documents": {}}"#, "without a `documents` array"),
            (r#"{"documents": [{"id": "a""#, "ends early"),
        ] {
            let why = parse(body.as_bytes(), "crm", &ContextSettings::default()).unwrap_err();
            assert!(why.contains(needle), "{body}: {why}");
            assert!(!why.contains("jane.doe"), "{why}");
        }
    }
}
