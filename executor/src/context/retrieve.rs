//! One retrieval: the source's candidate documents (whichever kind of source offered them)
//! filtered by the grant's labels and window, redacted, matched against the query (after
//! redaction, so a query is never an oracle on a redacted value or an unpermitted document),
//! newest first, within the document and byte limits ([`select`]); and a directory source's
//! retrieval ([`retrieve`]). An HTTP source's documents come from `upstream_read.rs`.

use std::collections::BTreeMap;

use serde_json::json;
use trust_sdk::vocabulary::context::format_day;

use super::admission::ContextCall;
use super::candidates::Candidates;
use super::redaction::{self, RedactionError};
use super::scan;
use super::{ContextSettings, ContextSources, SourceKind, SourceOrigin};

/// A document as it leaves the executor: labels, redacted content and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedDocument {
    pub id: String,
    pub title: String,
    pub classification: String,
    pub owner: String,
    pub jurisdiction: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub fields: BTreeMap<String, String>,
    pub content: String,
    /// Hex SHA-256 of the canonical JSON of `{"content", "fields", "id"}`.
    pub sha256: String,
}

/// How often one redaction rule of the grant applied to the returned documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRedaction {
    pub rule: String,
    pub mode: &'static str,
    pub count: u64,
}

/// The tool an HTTP source read through, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUsed {
    pub id: String,
    pub version: u32,
    /// `METHOD host:port` of the upstream (never its path: no query text is recorded).
    pub upstream: String,
    pub status: u16,
    pub response_bytes: u64,
}

/// What one retrieval returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextOutcome {
    pub source: String,
    pub kind: SourceKind,
    /// An HTTP source: the tool read through.
    pub tool: Option<ToolUsed>,
    pub documents: Vec<ReturnedDocument>,
    /// More matched than the limits let through (or the scan cap was reached).
    pub truncated: bool,
    pub redactions: Vec<AppliedRedaction>,
    /// Documents of the source skipped for their labels / their size.
    pub unlabeled: u64,
    pub oversized: u64,
}

/// Why a retrieval did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("context source `{0}` is not guarded here")]
    UnknownSource(String),
    #[error("the request was not bound to the grant")]
    Unbound,
    #[error("{0}")]
    Redaction(#[from] RedactionError),
    #[error("context source `{name}` cannot be read: {reason}")]
    Unreadable { name: String, reason: String },
    /// An HTTP source's upstream could not be reached or refused by the destination policy
    /// (`net-*` names the check).
    #[error("context source `{name}`: the upstream of tool `{tool}`: {check}: {reason}")]
    Upstream {
        name: String,
        tool: String,
        check: &'static str,
        reason: String,
    },
    /// An HTTP source's upstream answered something other than the document list.
    #[error("context source `{name}`: tool `{tool}` answered {reason}; nothing was returned")]
    Response {
        name: String,
        tool: String,
        reason: String,
    },
}

impl ContextError {
    /// The check a refusal for this error names.
    pub fn check(&self) -> &'static str {
        match self {
            ContextError::Upstream { .. } | ContextError::Response { .. } => "context-upstream",
            ContextError::Redaction(_) => "context-redaction",
            _ => "context-source",
        }
    }
}

/// The digest a returned document carries.
pub fn document_digest(id: &str, fields: &BTreeMap<String, String>, content: &str) -> String {
    trust_sdk::provenance::parameters_digest(
        &json!({"id": id, "fields": fields, "content": content}),
    )
}

/// Runs `call` (bound at admission) against a directory source of `sources`.
pub fn retrieve(
    call: &ContextCall,
    sources: &ContextSources,
) -> Result<ContextOutcome, ContextError> {
    let source = sources
        .get(&call.source)
        .ok_or_else(|| ContextError::UnknownSource(call.source.clone()))?;
    let SourceOrigin::Directory(root) = &source.origin else {
        return Err(ContextError::Unreadable {
            name: call.source.clone(),
            reason: "it is not a directory source".into(),
        });
    };
    let found = scan::scan(root, &source.name, &sources.settings).map_err(|reason| {
        ContextError::Unreadable {
            name: call.source.clone(),
            reason,
        }
    })?;
    select(call, SourceKind::Directory, found, &sources.settings)
}

/// What `found` (from a source of `kind`) leaves the executor as under `call`'s grant: the
/// same filter, redaction, match and limits for every kind of source.
pub fn select(
    call: &ContextCall,
    kind: SourceKind,
    found: Candidates,
    settings: &ContextSettings,
) -> Result<ContextOutcome, ContextError> {
    let grant = call.grant.as_ref().ok_or(ContextError::Unbound)?;
    let redactors = redaction::compile(&grant.redactions, settings)?;
    let mut permitted: Vec<_> = found
        .documents
        .into_iter()
        .filter(|d| grant.permits(&d.classification, &d.jurisdiction, d.day))
        .collect();
    permitted.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.id.cmp(&b.id)));
    let mut counts = vec![0u64; redactors.len()];
    let mut out = ContextOutcome {
        source: call.source.clone(),
        kind,
        tool: None,
        documents: Vec::new(),
        truncated: found.truncated,
        redactions: Vec::new(),
        unlabeled: found.unlabeled,
        oversized: found.oversized,
    };
    let mut bytes = 0u64;
    for mut doc in permitted {
        let applied: Vec<u64> = redactors.iter().map(|r| r.apply(&mut doc)).collect();
        let haystack = format!("{}\n{}", doc.title, doc.body).to_lowercase();
        if !call.terms.iter().all(|t| haystack.contains(t.as_str())) {
            continue;
        }
        let size = (doc.title.len()
            + doc.owner.len()
            + doc.body.len()
            + doc
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()) as u64;
        if out.documents.len() >= grant.max_documents as usize
            || bytes.saturating_add(size) > grant.max_bytes
        {
            out.truncated = true;
            break;
        }
        bytes += size;
        for (total, n) in counts.iter_mut().zip(applied) {
            *total += n;
        }
        out.documents.push(ReturnedDocument {
            sha256: document_digest(&doc.id, &doc.fields, &doc.body),
            id: doc.id,
            title: doc.title,
            classification: doc.classification,
            owner: doc.owner,
            jurisdiction: doc.jurisdiction,
            date: format_day(doc.day),
            fields: doc.fields,
            content: doc.body,
        });
    }
    out.redactions = redactors
        .iter()
        .zip(counts)
        .map(|(r, count)| AppliedRedaction {
            rule: r.redaction.rule.to_string(),
            mode: r.redaction.mode.as_str(),
            count,
        })
        .collect();
    Ok(out)
}
