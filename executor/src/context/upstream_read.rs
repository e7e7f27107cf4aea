//! An HTTP source's candidate documents, fetched at execution: the tool call bound at admission
//! (`tool_source.rs`) sent through the same exchange as `tool.invoke` (checked addresses, the
//! tool's secret as its header, no redirects, the response capped), the tool's secret scrubbed
//! from the body before anything is parsed or matched (an echoing upstream is never an oracle
//! on it), a non-2xx answer refused, and the body read strictly (`tool_response.rs`).

use super::admission::ContextCall;
use super::candidates::Candidates;
use super::retrieve::{ContextError, ToolUsed};
use super::tool_response;
use super::ContextSettings;
use crate::net::{exchange, HttpLimits};
use crate::secrets::scrubber::Scrubber;
use crate::tool_call::ToolCall;

/// The candidates `upstream` answers for `call`, and what the record says of the tool used.
pub async fn read(
    call: &ContextCall,
    upstream: &ToolCall,
    settings: &ContextSettings,
    http: &HttpLimits,
) -> Result<(Candidates, ToolUsed), ContextError> {
    let name = || call.source.clone();
    let tool = || upstream.tool_id.clone();
    let answer = exchange(&upstream.http, &upstream.limits(http))
        .await
        .map_err(|e| ContextError::Upstream {
            name: name(),
            tool: tool(),
            check: e.check.as_str(),
            reason: e.message,
        })?;
    let response = |reason: String| ContextError::Response {
        name: name(),
        tool: tool(),
        reason,
    };
    if !(200..300).contains(&answer.status) {
        return Err(response(format!("status {}", answer.status)));
    }
    if answer.truncated {
        return Err(response("a truncated body".into()));
    }
    let scrubber = Scrubber::new(upstream.secret.iter().flat_map(|secret| {
        upstream
            .http
            .secret_headers
            .iter()
            .map(move |(_, value)| (secret.name.as_str(), value))
    }));
    let body = scrubber.scrub(&answer.body, false);
    let found = tool_response::parse(&body, &call.source, settings).map_err(response)?;
    let used = ToolUsed {
        id: upstream.tool_id.clone(),
        version: upstream.version,
        upstream: format!("{} {}", upstream.http.method, upstream.http.permit.entry),
        status: answer.status,
        response_bytes: answer.body.len() as u64,
    };
    Ok((found, used))
}
