//! `tool.invoke` between admission and the exchange: the certified tool looked up in the
//! catalog, the grant's pin honoured, the arguments validated against the tool's schema, the
//! upstream request built through the executor's destination policy; and what provenance
//! states about the call.
//!
//! Order (each refusal names its check): `tool-not-found` (unknown, draft or revoked tool, or
//! one the grant does not name: the same answer, after the same work), `tool-version`,
//! `tool-arguments` (JSON Schema), then admission's Datalog with the `tool_arg` facts
//! (`argument-constraint`), then the upstream's destination checks (`net-*`). Nothing reaches
//! the upstream before all of them passed.

mod grant_tools;
mod schema;
mod upstream;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use biscuit_auth::error::FailedCheck;
use trust_sdk::tools::ToolDefinition;
use trust_sdk::vocabulary::tool_args::TOOL_ARG;

use crate::error::{Refusal, RefusalKind};
use crate::net::HttpLimits;
use crate::operations::Operation;
use crate::tool_catalog::ToolCatalog;

pub use crate::tool_call::{ToolCall, ToolOutcome};
pub use grant_tools::GrantTools;
pub use schema::{narrowed_schema, validate_arguments};
pub use upstream::upstream_call;

/// The `[tools]` section: where tool upstreams may be, and the ceilings of their calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsConfig {
    /// Hosts (`host` or `host:port`; an IP literal in a refused range only when named exactly)
    /// tool upstreams may be reached at; a tool whose URL names another host is refused.
    pub upstream_hosts: Vec<String>,
    /// The largest upstream response; a longer one is refused.
    pub max_response_bytes: u64,
    /// Each upstream call within this.
    pub timeout: Duration,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            upstream_hosts: Vec::new(),
            max_response_bytes: 1 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The catalog `tool.invoke` reads and the upstream policy its calls go through.
#[derive(Debug, Clone)]
pub struct ToolDesk {
    pub catalog: Arc<ToolCatalog>,
    pub config: ToolsConfig,
    policy: Arc<crate::net::DestinationPolicy>,
}

impl ToolDesk {
    pub fn new(catalog: Arc<ToolCatalog>, config: ToolsConfig) -> Self {
        let policy = crate::net::DestinationPolicy::from_entries(
            config.upstream_hosts.iter().map(String::as_str),
        );
        Self {
            catalog,
            config,
            policy: Arc::new(policy),
        }
    }

    /// The certified tool `id` when the grant names it; `None` otherwise, after the same
    /// lookups either way (unknown and not granted look the same, and take the same path).
    pub fn visible(&self, grant: &GrantTools, id: &str) -> Option<ToolDefinition> {
        let found = self.catalog.certified_tool(id);
        let named = grant.names(id);
        found.filter(|_| named)
    }
}

/// The answer for a tool that is unknown, not certified, or not named by the grant: one
/// status and one message whichever it is, and whichever id was asked for (the record keeps
/// the id).
pub fn not_found(_tool_id: &str) -> Refusal {
    Refusal::new(
        RefusalKind::NotFound,
        "tool-not-found",
        "no such tool is available to this grant",
    )
}

/// The `tool.invoke` operation for one request under `grant`, or the first check it fails.
pub fn tool_operation(
    tool_id: &str,
    arguments_json: &str,
    requested_version: u32,
    grant: &GrantTools,
    desk: Option<&ToolDesk>,
    http: &HttpLimits,
) -> Result<Operation, Refusal> {
    let Some(desk) = desk else {
        return Err(not_found(tool_id));
    };
    let tool = desk
        .visible(grant, tool_id)
        .ok_or_else(|| not_found(tool_id))?;
    if let Some(pinned) = grant.tool_grant.versions.get(tool_id) {
        if *pinned != tool.version {
            return Err(Refusal::new(
                RefusalKind::FailedPrecondition,
                "tool-version",
                format!(
                    "the grant pins `{tool_id}` at version {pinned}; this executor holds version {}",
                    tool.version
                ),
            ));
        }
    }
    if requested_version != 0 && requested_version != tool.version {
        return Err(Refusal::new(
            RefusalKind::FailedPrecondition,
            "tool-version",
            format!(
                "version {requested_version} of `{tool_id}` was asked for; version {} is certified",
                tool.version
            ),
        ));
    }
    if arguments_json.len() as u64 > http.max_request_bytes {
        return Err(Refusal::invalid(
            "tool-arguments",
            format!(
                "the arguments are {} bytes, limit {}",
                arguments_json.len(),
                http.max_request_bytes
            ),
        ));
    }
    let arguments = validate_arguments(&tool, arguments_json)?;
    let http_call = upstream::upstream_call(&tool, &arguments, desk, http)?;
    Ok(Operation::Tool(Box::new(ToolCall {
        tool_id: tool.id.clone(),
        version: tool.version,
        arguments_sha256: trust_sdk::parameters::arguments_digest(arguments_json),
        arguments,
        http: http_call,
        secret: tool.secret.clone(),
        skill: grant.tool_grant.skill.clone(),
        max_response_bytes: desk.config.max_response_bytes,
    })))
}

/// Whether a failed check reads `tool_arg` (an argument constraint, from any block).
fn reads_tool_arg(check: &FailedCheck) -> bool {
    let rule = match check {
        FailedCheck::Block(b) => &b.rule,
        FailedCheck::Authorizer(a) => &a.rule,
    };
    biscuit_auth::builder::Check::try_from(rule.as_str()).is_ok_and(|parsed| {
        parsed
            .queries
            .iter()
            .any(|q| q.body.iter().any(|p| p.name == TOOL_ARG))
    })
}

/// Admission's refusal for a `tool.invoke` whose Datalog failed: when only argument constraints
/// failed, `argument-constraint` naming the first; any other scope failure answers as a tool
/// that does not exist. Refusals of other checks (holder, expiry, ...) stand as they are.
pub fn refine_refusal(
    refusal: Refusal,
    operation: &str,
    resource: &str,
    checks: &[FailedCheck],
) -> Refusal {
    if operation != trust_sdk::operation::Operation::ToolInvoke.as_str()
        || refusal.check != "grant-scope"
    {
        return refusal;
    }
    if !checks.is_empty() && checks.iter().all(reads_tool_arg) {
        let (block, rule) = match &checks[0] {
            FailedCheck::Block(b) => (b.block_id, b.rule.clone()),
            FailedCheck::Authorizer(a) => (u32::MAX, a.rule.clone()),
        };
        return Refusal::denied(
            "argument-constraint",
            format!(
                "an argument of `{resource}` is outside the grant's constraints: block {block} check failed: {rule}"
            ),
        );
    }
    not_found(resource)
}

/// The provenance reason of an admitted call: tool, version, argument digest, upstream, skill.
pub fn record_reason(operation: &Operation) -> Vec<String> {
    let Operation::Tool(call) = operation else {
        return Vec::new();
    };
    let mut reasons = vec![format!(
        "tool id={} version={} arguments_sha256={} upstream={} {}",
        call.tool_id,
        call.version,
        call.arguments_sha256,
        call.http.method,
        call.http.target.url()
    )];
    if let Some((skill, version)) = &call.skill {
        reasons.push(format!("skill id={skill} version={version}"));
    }
    reasons
}

/// The provenance reason of a result: status, size and digest.
pub fn outcome_reason(outcome: &ToolOutcome) -> String {
    format!(
        "tool result id={} version={} status={} result_bytes={} result_sha256={}",
        outcome.tool_id,
        outcome.version,
        outcome.http.status,
        outcome.http.body.len(),
        outcome.result_sha256()
    )
}

/// Resolves the tool's secret through the broker and sets it as its header on the upstream
/// request; the returned use scrubs it from the outcome. A tool without a secret needs none.
pub fn inject_secret(
    broker: &crate::secrets::SecretBroker,
    operation: &mut Operation,
    secret_use: &mut crate::secrets::exec_use::SecretUse,
) -> Result<(), Refusal> {
    let call = match operation {
        Operation::Tool(call) => call.as_mut(),
        // context.retrieve from an HTTP source: its tool's secret, the same way.
        Operation::Context(context) => match context.upstream.as_deref_mut() {
            Some(call) => call,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let Some(secret) = &call.secret else {
        return Ok(());
    };
    let op = trust_sdk::operation::Operation::ToolInvoke.as_str();
    let reference = trust_sdk::vocabulary::SecretRef::new(
        &secret.name,
        op,
        &call.tool_id,
        &format!("header:{}", secret.header),
    )
    .map_err(|e| {
        Refusal::new(
            RefusalKind::FailedPrecondition,
            "tool-secret",
            e.to_string(),
        )
    })?;
    let resolved = broker
        .resolve(std::slice::from_ref(&reference), op, &call.tool_id)
        .map_err(|e| {
            Refusal::new(
                RefusalKind::FailedPrecondition,
                "tool-secret",
                e.to_string(),
            )
        })?;
    for r in &resolved {
        call.http
            .secret_headers
            .push((secret.header.clone(), r.value.clone()));
        secret_use.reasons.push(format!(
            "secret {} for tool {} as header:{}",
            secret.name, call.tool_id, secret.header
        ));
    }
    secret_use.scrubber = crate::secrets::broker::scrubber_for(&resolved);
    Ok(())
}
