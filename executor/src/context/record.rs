//! What provenance says about one retrieval: the source and its kind, for an HTTP source the
//! tool (id, version, upstream host, status, response size) it read through, each returned
//! document by id and digest, each redaction rule of the grant with how often it applied, and
//! what was skipped. Never a document's content, a redacted value or the query text.

use super::retrieve::ContextOutcome;

/// The record's reason lines for `outcome`.
pub fn lines(outcome: &ContextOutcome) -> Vec<String> {
    let mut lines = Vec::with_capacity(2 + outcome.documents.len() + outcome.redactions.len());
    lines.push(format!(
        "context-source {} kind={} returned={} truncated={} unlabeled={} oversized={}",
        outcome.source,
        outcome.kind.as_str(),
        outcome.documents.len(),
        outcome.truncated,
        outcome.unlabeled,
        outcome.oversized
    ));
    if let Some(tool) = &outcome.tool {
        lines.push(format!(
            "context-tool {} tool={} version={} upstream={} status={} response_bytes={}",
            outcome.source, tool.id, tool.version, tool.upstream, tool.status, tool.response_bytes
        ));
    }
    for d in &outcome.documents {
        lines.push(format!(
            "context-document {} sha256={} classification={} jurisdiction={} date={}",
            d.id, d.sha256, d.classification, d.jurisdiction, d.date
        ));
    }
    for r in &outcome.redactions {
        lines.push(format!(
            "context-redaction {} mode={} count={}",
            r.rule, r.mode, r.count
        ));
    }
    lines
}
