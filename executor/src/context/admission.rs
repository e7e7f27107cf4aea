//! `context.retrieve` at admission: the request checked into a [`ContextCall`], then bound to
//! what the grant lets it read of its source (every block read as data, combined so an
//! appended block only tightens) and narrowed by the request's own filters.

use biscuit_auth::Biscuit;
use trust_sdk::invocation::ContextRequested;
use trust_sdk::structure::Structure;
use trust_sdk::vocabulary::context::{
    classification_rank, effective_grants, is_jurisdiction, is_source_name, parse_day,
    ContextGrant, ANY_JURISDICTION,
};

use super::redaction;
use super::ContextSources;
use crate::error::{Refusal, RefusalKind};

/// Longest query, in bytes; most terms in it; longest term.
const MAX_QUERY_BYTES: usize = 256;
const MAX_TERMS: usize = 16;
const MAX_TERM_BYTES: usize = 64;

/// A checked `context.retrieve` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextCall {
    pub source: String,
    /// Lower-cased plain terms; a document matches when it contains every one.
    pub terms: Vec<String>,
    pub classifications: Vec<String>,
    pub jurisdictions: Vec<String>,
    pub from_day: Option<i64>,
    pub to_day: Option<i64>,
    /// 0: the grant's.
    pub max_documents: u32,
    pub max_bytes: u64,
    /// What may be read, once bound to the grant ([`bind`]); a call never runs without it.
    pub grant: Option<ContextGrant>,
    /// An HTTP source: the call of its certified tool that fetches the candidate documents
    /// (`tool_source.rs`, after [`bind`]).
    pub upstream: Option<Box<crate::tool_call::ToolCall>>,
}

/// Checks the request's shape: a source name (never a path), a bounded plain-text query
/// (no pattern of any kind), known classifications and jurisdictions, strict dates.
pub fn call(requested: &ContextRequested) -> Result<ContextCall, Refusal> {
    if !is_source_name(&requested.source) {
        return Err(Refusal::invalid(
            "context-source",
            format!(
                "source `{}` is not a source name (lower-case letters, digits, `_`, `-`; never a path)",
                requested.source.escape_debug()
            ),
        ));
    }
    let query = &requested.query;
    if query.len() > MAX_QUERY_BYTES || query.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "parameters",
            format!(
                "a query is at most {MAX_QUERY_BYTES} bytes of text without control characters"
            ),
        ));
    }
    let terms: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if terms.len() > MAX_TERMS || terms.iter().any(|t| t.len() > MAX_TERM_BYTES) {
        return Err(Refusal::invalid(
            "parameters",
            format!("a query is at most {MAX_TERMS} terms of at most {MAX_TERM_BYTES} bytes"),
        ));
    }
    if let Some(c) = requested
        .classifications
        .iter()
        .find(|c| classification_rank(c).is_none())
    {
        return Err(Refusal::invalid(
            "parameters",
            format!("unknown classification `{}`", c.escape_debug()),
        ));
    }
    if let Some(j) = requested
        .jurisdictions
        .iter()
        .find(|j| !is_jurisdiction(j) || *j == ANY_JURISDICTION)
    {
        return Err(Refusal::invalid(
            "parameters",
            format!("jurisdiction `{}`", j.escape_debug()),
        ));
    }
    let day = |text: &str| -> Result<Option<i64>, Refusal> {
        if text.is_empty() {
            return Ok(None);
        }
        parse_day(text).map(Some).ok_or_else(|| {
            Refusal::invalid(
                "parameters",
                format!("date `{}` is not YYYY-MM-DD", text.escape_debug()),
            )
        })
    };
    Ok(ContextCall {
        source: requested.source.clone(),
        terms,
        classifications: requested.classifications.clone(),
        jurisdictions: requested.jurisdictions.clone(),
        from_day: day(&requested.date_from)?,
        to_day: day(&requested.date_to)?,
        max_documents: requested.max_documents,
        max_bytes: requested.max_bytes,
        grant: None,
        upstream: None,
    })
}

/// Binds `call` to what `token` (all its blocks) lets it read of its source, narrowed by the
/// request's filters. Refuses an unknown source, a grant that states nothing readable, a
/// filter asking for more than the grant, and redactions this executor cannot apply.
pub fn bind(
    call: &mut ContextCall,
    token: &Biscuit,
    sources: &ContextSources,
) -> Result<(), Refusal> {
    let grant_error =
        |e: trust_sdk::error::SdkError| Refusal::invalid("context-grant", e.to_string());
    let structure = Structure::read(token).map_err(grant_error)?;
    let grants = effective_grants(&structure).map_err(grant_error)?;
    let Some(mut grant) = grants.into_iter().find(|g| g.source == call.source) else {
        return Err(Refusal::denied(
            "context-scope",
            format!(
                "the grant states nothing it may read of source `{}`",
                call.source
            ),
        ));
    };
    if sources.get(&call.source).is_none() {
        return Err(Refusal::new(
            RefusalKind::NotFound,
            "context-source",
            format!("this executor guards no context source `{}`", call.source),
        ));
    }
    if let Some(c) = call
        .classifications
        .iter()
        .find(|c| !grant.classifications.contains(*c))
    {
        return Err(Refusal::denied(
            "context-scope",
            format!(
                "classification `{c}` of source `{}` is outside the grant",
                call.source
            ),
        ));
    }
    if !call.classifications.is_empty() {
        grant.classifications = call.classifications.iter().cloned().collect();
    }
    if !call.jurisdictions.is_empty() {
        let any = grant.jurisdictions.contains(ANY_JURISDICTION);
        if let Some(j) = call
            .jurisdictions
            .iter()
            .find(|j| !any && !grant.jurisdictions.contains(*j))
        {
            return Err(Refusal::denied(
                "context-scope",
                format!(
                    "jurisdiction `{j}` of source `{}` is outside the grant",
                    call.source
                ),
            ));
        }
        grant.jurisdictions = call.jurisdictions.iter().cloned().collect();
    }
    if grant.classifications.is_empty() || grant.jurisdictions.is_empty() {
        return Err(Refusal::denied(
            "context-scope",
            format!(
                "the grant leaves no classification or jurisdiction of source `{}` readable",
                call.source
            ),
        ));
    }
    // Dates and limits are clamped to the grant's: a request may only ask for less.
    grant.from_day = grant.from_day.max(call.from_day.unwrap_or(i64::MIN));
    grant.to_day = grant.to_day.min(call.to_day.unwrap_or(i64::MAX));
    if call.max_documents > 0 {
        grant.max_documents = grant.max_documents.min(call.max_documents);
    }
    if call.max_bytes > 0 {
        grant.max_bytes = grant.max_bytes.min(call.max_bytes);
    }
    redaction::compile(&grant.redactions, &sources.settings).map_err(|e| {
        Refusal::new(
            RefusalKind::FailedPrecondition,
            "context-redaction",
            e.to_string(),
        )
    })?;
    call.grant = Some(grant);
    Ok(())
}
