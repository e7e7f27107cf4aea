//! `trustctl exec context SOURCE --query ...`: the request's arguments and how its result prints.

use clap::Args;
use serde_json::{json, Value};
use trust_proto::executor::v1 as pb;
use trust_sdk::client::{context_operation, ContextQuery};

/// Arguments of `context.retrieve`.
#[derive(Args, Debug)]
pub struct ContextArgs {
    /// The context source's name, as the executor's `[[context_source]]` names it.
    pub source: String,
    /// Plain terms (case-insensitive), every one of which must appear in a document's title or
    /// body; never a pattern. Empty: every document the grant permits.
    #[arg(long, default_value = "")]
    pub query: String,
    /// Only this classification (repeatable; never beyond the grant's).
    #[arg(long = "classification")]
    pub classifications: Vec<String>,
    /// Only this jurisdiction (repeatable; never beyond the grant's).
    #[arg(long = "jurisdiction")]
    pub jurisdictions: Vec<String>,
    /// Only documents dated on or after this day (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub from: String,
    /// Only documents dated on or before this day (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub to: String,
    /// At most this many documents (0: the grant's limit).
    #[arg(long, default_value_t = 0)]
    pub max_documents: u32,
    /// At most this many content bytes (0: the grant's limit).
    #[arg(long, default_value_t = 0)]
    pub max_bytes: u64,
}

/// The wire operation of `args`.
pub fn operation(args: &ContextArgs) -> pb::invocation::Operation {
    context_operation(&ContextQuery {
        source: args.source.clone(),
        query: args.query.clone(),
        classifications: args.classifications.clone(),
        jurisdictions: args.jurisdictions.clone(),
        date_from: args.from.clone(),
        date_to: args.to.clone(),
        max_documents: args.max_documents,
        max_bytes: args.max_bytes,
    })
}

/// The result as JSON.
pub fn result_json(c: &pb::ContextRetrieveResult) -> Value {
    json!({
        "documents": c.documents.iter().map(|d| json!({
            "id": d.id, "title": d.title, "classification": d.classification, "owner": d.owner,
            "jurisdiction": d.jurisdiction, "date": d.date, "fields": d.fields,
            "content": d.content, "sha256": d.sha256,
        })).collect::<Vec<_>>(),
        "truncated": c.truncated,
        "redactions": c.redactions.iter().map(|r| json!({"rule": r.rule, "mode": r.mode, "count": r.count})).collect::<Vec<_>>(),
        "unlabeled": c.unlabeled,
        "oversized": c.oversized,
    })
}

/// The result for people: each document's labels, fields and content; a summary on stderr.
pub fn print(c: &pb::ContextRetrieveResult) -> String {
    let mut text = String::new();
    for d in &c.documents {
        text.push_str(&format!(
            "=== {} [{} {} {}] {} (owner {}, sha256 {})\n",
            d.id, d.classification, d.jurisdiction, d.date, d.title, d.owner, d.sha256
        ));
        let mut fields: Vec<_> = d.fields.iter().collect();
        fields.sort();
        for (name, value) in fields {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push_str(&d.content);
        if !d.content.ends_with('\n') {
            text.push('\n');
        }
    }
    let redactions: Vec<String> = c
        .redactions
        .iter()
        .map(|r| format!("{} ({}) x{}", r.rule, r.mode, r.count))
        .collect();
    eprintln!(
        "{} document(s){}; redactions: {}; skipped: {} unlabeled, {} oversized",
        c.documents.len(),
        if c.truncated {
            " (truncated by the limits)"
        } else {
            ""
        },
        if redactions.is_empty() {
            "none".to_string()
        } else {
            redactions.join(", ")
        },
        c.unlabeled,
        c.oversized
    );
    text
}
