//! A tool's upstream request: its URL template filled with URL-encoded arguments, a JSON body
//! of the arguments for methods that carry one, checked against the executor's tool upstream
//! hosts (the same destination policy as `net.http`: one resolution, checked addresses only).

use std::sync::Arc;

use serde_json::{Map, Value};
use trust_sdk::tools::ToolDefinition;

use super::ToolDesk;
use crate::error::{Refusal, RefusalKind};
use crate::http_admission::refusal as net_refusal;
use crate::net::{check_method, HttpCall, HttpLimits, Target};

/// Percent-encodes everything but unreserved characters (RFC 3986), so an argument stays one
/// path segment or query value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn template_error(tool: &ToolDefinition, why: String) -> Refusal {
    Refusal::new(
        RefusalKind::FailedPrecondition,
        "tool-upstream",
        format!("the upstream of `{}`: {why}", tool.id),
    )
}

/// The URL of `tool`'s template with each `{name}` replaced by the encoded argument `name`
/// (a string, integer or boolean); a missing or non-scalar argument refuses.
pub fn fill_template(
    tool: &ToolDefinition,
    arguments: &Map<String, Value>,
) -> Result<String, Refusal> {
    let template = &tool.upstream.url_template;
    let mut out = String::with_capacity(template.len());
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| template_error(tool, "an unclosed `{` in the URL template".into()))?;
        let name = &after[..close];
        let value = match arguments.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => {
                return Err(Refusal::invalid(
                    "tool-arguments",
                    format!(
                        "the URL of `{}` needs argument `{name}` (a string, number or boolean)",
                        tool.id
                    ),
                ))
            }
        };
        out.push_str(&encode(&value));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The upstream request of one call of `tool`.
pub fn upstream_call(
    tool: &ToolDefinition,
    arguments: &Map<String, Value>,
    desk: &ToolDesk,
    http: &HttpLimits,
) -> Result<HttpCall, Refusal> {
    let method = check_method(&tool.upstream.method).map_err(net_refusal)?;
    let url = fill_template(tool, arguments)?;
    let target = Target::parse(&url).map_err(net_refusal)?;
    let permit = desk
        .policy
        .permit(&target.host, target.port)
        .map_err(net_refusal)?;
    let with_body = !matches!(method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS");
    let body = match with_body {
        true => serde_json::to_vec(&Value::Object(arguments.clone()))
            .map_err(|e| Refusal::new(RefusalKind::Internal, "tool-arguments", e.to_string()))?,
        false => Vec::new(),
    };
    let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
    if with_body {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
    }
    Ok(HttpCall {
        method: method.to_string(),
        target,
        headers,
        body,
        timeout: desk.config.timeout.min(http.timeout),
        keep_bytes: 0,
        policy: Arc::clone(&desk.policy),
        permit,
        addresses: Vec::new(),
        secret_headers: Vec::new(),
    })
}
