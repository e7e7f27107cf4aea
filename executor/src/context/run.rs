//! One `context.retrieve` at execution, whichever kind its source is: a directory source read
//! on the blocking pool; an HTTP source's candidates fetched through its tool, then the same
//! selection (`retrieve::select`) on the blocking pool. A call for an HTTP source that was not
//! bound to its tool at admission never runs (no fallback to anything else).

use std::sync::Arc;

use super::admission::ContextCall;
use super::retrieve::{self, ContextError, ContextOutcome};
use super::upstream_read;
use super::{ContextSources, SourceKind};
use crate::net::HttpLimits;

/// Runs `call` (bound at admission) against `sources`.
pub async fn run(
    call: &ContextCall,
    sources: &Arc<ContextSources>,
    http: &HttpLimits,
) -> Result<ContextOutcome, ContextError> {
    let failed = || ContextError::Unreadable {
        name: call.source.clone(),
        reason: "the retrieval task failed".into(),
    };
    let Some(upstream) = &call.upstream else {
        let (owned, sources) = (call.clone(), Arc::clone(sources));
        return tokio::task::spawn_blocking(move || retrieve::retrieve(&owned, &sources))
            .await
            .map_err(|_| failed())?;
    };
    let (found, used) = upstream_read::read(call, upstream, &sources.settings, http).await?;
    let (owned, sources) = (call.clone(), Arc::clone(sources));
    let mut outcome = tokio::task::spawn_blocking(move || {
        retrieve::select(&owned, SourceKind::Http, found, &sources.settings)
    })
    .await
    .map_err(|_| failed())??;
    outcome.tool = Some(used);
    Ok(outcome)
}
